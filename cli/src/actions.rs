//! `--action` / `--flow` arguments: a built-in gauge action by name or a
//! trained L-CNN model file.

use anyhow::Result;
use fpa_core::action::{Action, Improved, Symmetrized, SymmetrySet, Wilson};
use fpa_core::lcnn::action::LcnnAction;
use std::path::Path;

/// The built-in action names.
pub const BUILT_IN: &str = "wilson, symanzik, iwasaki, dbw2";

/// A parsed action and what identifies it in a run's settings.
pub struct ActionChoice {
    pub action: Box<dyn Action<f64>>,
    /// `wilson`, …, or `model:<file name>:<FNV-1a hash of the file>` (so that a run
    /// resumed with a different model of the same name is refused).
    pub id: String,
}

/// Parses `wilson | symanzik | iwasaki | dbw2 | CLASSICAL.json | MODEL.safetensors[@reflections|@hypercubic]`:
/// a `.json` file is a classical parametrisation written by `fpa fit-classical`; a model with a
/// suffix is averaged over the lattice reflections (16 evaluations per call) or all hypercubic
/// symmetries (384), see [`Symmetrized`].
pub fn parse(arg: &str) -> Result<ActionChoice> {
    if let Some((path, set)) = arg.rsplit_once('@').and_then(|(p, s)| Some((p, SymmetrySet::named(s)?))) {
        if !Path::new(arg).exists() {
            let ActionChoice { action, id } = parse(path)?;
            anyhow::ensure!(id.starts_with("model:"), "action {arg:?}: only a model file can be averaged");
            return Ok(ActionChoice {
                action: Box::new(Symmetrized::new(action, set)),
                id: format!("{id}@{}", set.name()),
            });
        }
    }
    let built_in = |a: Box<dyn Action<f64>>| ActionChoice { action: a, id: arg.to_string() };
    Ok(match arg {
        "wilson" => built_in(Box::new(Wilson)),
        "symanzik" => built_in(Box::new(Improved::SYMANZIK)),
        "iwasaki" => built_in(Box::new(Improved::IWASAKI)),
        "dbw2" => built_in(Box::new(Improved::DBW2)),
        path => {
            let p = Path::new(path);
            if !p.exists() {
                anyhow::bail!("action {path:?}: not one of {BUILT_IN}, and no such model or classical-action file");
            }
            let bytes = std::fs::read(p).map_err(|e| anyhow::anyhow!("cannot read {path}: {e}"))?;
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.into());
            let hash = fpa_core::checksum::fnv1a(bytes.iter().copied());
            if p.extension().is_some_and(|e| e == "json") {
                let action = crate::classical::load(p)?;
                return Ok(ActionChoice { action: Box::new(action), id: format!("classical:{name}:{hash:016x}") });
            }
            let (model, params, _) = crate::model_io::load(p)?;
            let id = format!("model:{name}:{hash:016x}");
            ActionChoice { action: Box::new(LcnnAction::new(model, params, name)), id }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_with_a_symmetry_suffix_is_averaged() {
        let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/fp-action.safetensors");
        let plain = parse(model).unwrap();
        let sym = parse(&format!("{model}@reflections")).unwrap();
        assert_eq!(sym.id, format!("{}@reflections", plain.id));
        assert_eq!(sym.action.name(), "fp-action.safetensors averaged over reflections");
        let classical = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/fat-polynomial.json");
        let c = parse(classical).unwrap();
        assert!(c.id.starts_with("classical:fat-polynomial.json:"), "{}", c.id);
        assert_eq!(c.action.name(), "fat-polynomial.json");
        let err = parse("wilson@reflections").err().unwrap().to_string();
        assert!(err.contains("only a model file can be averaged"), "{err}");
        let err = parse(&format!("{model}@rotations")).err().unwrap().to_string();
        assert!(err.contains("no such model or classical-action file"), "{err}");
    }
}
