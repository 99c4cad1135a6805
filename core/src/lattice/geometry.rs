//! Periodic hypercubic lattices in D = 2, 3 or 4 dimensions.
//!
//! Sites are numbered lexicographically with direction 0 fastest:
//! `site = x₀ + L₀(x₁ + L₁(x₂ + L₂x₃))`. For 4D this is the NERSC order
//! (x fastest, t slowest) with directions (x, y, z, t) = (0, 1, 2, 3); the
//! last direction is "time" for Polyakov loops.

use alloc::vec::Vec;
use core::fmt;

/// Largest number of dimensions supported.
pub const MAX_DIM: usize = 4;

/// Why a lattice shape was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GeometryError {
    Dimension(usize),
    Extent { dir: usize, extent: usize },
    TooLarge,
}

impl fmt::Display for GeometryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GeometryError::Dimension(d) => {
                write!(f, "lattice dimension {d} is not supported (use 2, 3 or 4)")
            }
            GeometryError::Extent { dir, extent } => {
                write!(f, "extent {extent} in direction {dir} is too small (at least 2)")
            }
            GeometryError::TooLarge => {
                write!(f, "lattice volume does not fit in 32-bit site indices")
            }
        }
    }
}

impl core::error::Error for GeometryError {}
impl core::error::Error for ParseError {}

/// Shape, neighbour tables and parity of a periodic lattice.
#[derive(Clone, Debug, PartialEq)]
pub struct Geometry {
    dims: Vec<usize>,
    volume: usize,
    /// `fwd[site·D + mu]` = site + mu-hat
    fwd: Vec<u32>,
    /// `bwd[site·D + mu]` = site − mu-hat
    bwd: Vec<u32>,
    /// Sites with even and odd coordinate sum.
    parity_sites: [Vec<u32>; 2],
}

impl Geometry {
    /// A periodic lattice with the given extents (direction 0 first).
    pub fn new(dims: &[usize]) -> Result<Self, GeometryError> {
        let nd = dims.len();
        if !(2..=MAX_DIM).contains(&nd) {
            return Err(GeometryError::Dimension(nd));
        }
        for (dir, &extent) in dims.iter().enumerate() {
            if extent < 2 {
                return Err(GeometryError::Extent { dir, extent });
            }
        }
        let volume = dims.iter().try_fold(1usize, |v, &l| v.checked_mul(l)).ok_or(GeometryError::TooLarge)?;
        if volume.checked_mul(nd).is_none_or(|n| n > u32::MAX as usize) {
            return Err(GeometryError::TooLarge);
        }
        let mut g = Geometry {
            dims: dims.to_vec(),
            volume,
            fwd: Vec::with_capacity(volume * nd),
            bwd: Vec::with_capacity(volume * nd),
            parity_sites: [Vec::new(), Vec::new()],
        };
        let mut c = [0usize; MAX_DIM];
        for site in 0..volume {
            g.coords_into(site, &mut c);
            for mu in 0..nd {
                let mut up = c;
                up[mu] = (c[mu] + 1) % dims[mu];
                let mut dn = c;
                dn[mu] = (c[mu] + dims[mu] - 1) % dims[mu];
                g.fwd.push(g.index(&up[..nd]) as u32);
                g.bwd.push(g.index(&dn[..nd]) as u32);
            }
            let p = c[..nd].iter().sum::<usize>() % 2;
            g.parity_sites[p].push(site as u32);
        }
        Ok(g)
    }

    /// Parses `"8x8x8x16"`.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let dims = Self::parse_dims(s)?;
        Geometry::new(&dims).map_err(|e| ParseError(alloc::format!("lattice size '{s}': {e}")))
    }

    /// The extents of `"8x8x8x16"`, without building the lattice (so callers
    /// can refuse sizes too large for them first).
    pub fn parse_dims(s: &str) -> Result<Vec<usize>, ParseError> {
        s.split(['x', 'X'])
            .map(|part| {
                part.trim().parse().map_err(|_| {
                    ParseError(alloc::format!("lattice size '{s}' is not of the form 8x8x8x8 (bad extent '{part}')"))
                })
            })
            .collect()
    }

    #[inline(always)]
    pub fn nd(&self) -> usize {
        self.dims.len()
    }
    #[inline(always)]
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }
    #[inline(always)]
    pub fn volume(&self) -> usize {
        self.volume
    }
    /// Number of links `D · volume`.
    #[inline(always)]
    pub fn n_links(&self) -> usize {
        self.volume * self.nd()
    }
    /// `site + mu-hat`
    #[inline(always)]
    pub fn up(&self, site: usize, mu: usize) -> usize {
        self.fwd[site * self.dims.len() + mu] as usize
    }
    /// `site − mu-hat`
    #[inline(always)]
    pub fn dn(&self, site: usize, mu: usize) -> usize {
        self.bwd[site * self.dims.len() + mu] as usize
    }
    /// Moves `n` steps (either sign) along `mu`.
    pub fn shift(&self, mut site: usize, mu: usize, n: isize) -> usize {
        for _ in 0..n.unsigned_abs() {
            site = if n > 0 { self.up(site, mu) } else { self.dn(site, mu) };
        }
        site
    }
    /// Lexicographic index of coordinates (taken modulo the extents).
    pub fn index(&self, coords: &[usize]) -> usize {
        let mut idx = 0;
        for mu in (0..self.nd()).rev() {
            idx = idx * self.dims[mu] + coords[mu] % self.dims[mu];
        }
        idx
    }
    /// Coordinates of a site (entries past `nd` are zero).
    pub fn coords(&self, site: usize) -> [usize; MAX_DIM] {
        let mut c = [0; MAX_DIM];
        self.coords_into(site, &mut c);
        c
    }
    fn coords_into(&self, mut site: usize, c: &mut [usize; MAX_DIM]) {
        for mu in 0..self.nd() {
            c[mu] = site % self.dims[mu];
            site /= self.dims[mu];
        }
    }
    /// 0 for even coordinate sum, 1 for odd.
    pub fn parity(&self, site: usize) -> usize {
        self.coords(site).iter().sum::<usize>() % 2
    }
    /// The sites of one parity.
    #[inline(always)]
    pub fn sites_of_parity(&self, parity: usize) -> &[u32] {
        &self.parity_sites[parity]
    }
    /// `true` when every extent is even, so that the checkerboard is
    /// consistent with the periodic boundary.
    pub fn has_checkerboard(&self) -> bool {
        self.dims.iter().all(|&l| l % 2 == 0)
    }
    /// `"8x8x8x16"`
    pub fn label(&self) -> alloc::string::String {
        let parts: Vec<alloc::string::String> = self.dims.iter().map(|d| alloc::format!("{d}")).collect();
        parts.join("x")
    }
}

/// A lattice-size string that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub alloc::string::String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_and_coords() {
        let g = Geometry::new(&[4, 3, 2]).unwrap();
        assert_eq!(g.volume(), 24);
        for s in 0..g.volume() {
            let c = g.coords(s);
            assert_eq!(g.index(&c[..3]), s);
            for mu in 0..3 {
                assert_eq!(g.dn(g.up(s, mu), mu), s);
                let u = g.coords(g.up(s, mu));
                assert_eq!(u[mu], (c[mu] + 1) % g.dims()[mu]);
            }
        }
        assert_eq!(g.shift(0, 0, -1), 3);
        assert_eq!(g.shift(0, 1, 4), g.index(&[0, 1, 0]));
        assert!(!g.has_checkerboard());
        let h = Geometry::new(&[4, 4, 4, 4]).unwrap();
        assert_eq!(h.sites_of_parity(0).len(), 128);
        for &s in h.sites_of_parity(1) {
            for mu in 0..4 {
                assert_eq!(h.parity(h.up(s as usize, mu)), 0);
            }
        }
    }

    #[test]
    fn parse_and_errors() {
        assert_eq!(Geometry::parse("8x8x8x16").unwrap().dims(), &[8, 8, 8, 16]);
        assert!(Geometry::parse("8x8x").is_err());
        assert!(Geometry::parse("8").is_err());
        assert!(Geometry::parse("8x1").is_err());
        assert!(Geometry::parse("2x2x2x2x2").is_err());
        let e = Geometry::parse("8xfoo").unwrap_err();
        assert!(e.0.contains("foo"));
    }
}
