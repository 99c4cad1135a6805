/* A C program using libfpa: a Wilson configuration by heatbath (a chain, and stand-alone sweeps), its
 * plaquette, action and force, gauge-file round trips, the shipped L-CNN action on it, and error handling.
 * Build (from the repository root, after `cargo build --release -p fpa-capi`):
 *   cc -O2 -Icapi/include capi/examples/example.c target/release/libfpa.a -lpthread -ldl -lm -o example
 *   ./example models/fp-action.safetensors
 * or link the shared library: ... -Ltarget/release -lfpa -Wl,-rpath,$PWD/target/release
 */
#include "fpa.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                   \
    do {                                                                              \
        if ((call) != FPA_OK) {                                                       \
            fprintf(stderr, "%s failed: %s\n", #call, fpa_last_error());              \
            return 1;                                                                 \
        }                                                                             \
    } while (0)

/* The field reflected along x, x -> -x (mod L), as a plain array: a link in direction x from site x
   becomes the daggered link from site -x-1 (it now runs the other way); the other links move to -x. */
static void reflect_x(const double *in, double *out, size_t lx, size_t rest) {
    for (size_t s = 0; s < rest; s++)
        for (size_t x = 0; x < lx; x++)
            for (size_t mu = 0; mu < 4; mu++) {
                const double *a = in + 18 * (4 * (s * lx + x) + mu);
                size_t xr = mu == 0 ? (2 * lx - x - 1) % lx : (lx - x) % lx;
                double *b = out + 18 * (4 * (s * lx + xr) + mu);
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++) {
                        const double *src = mu == 0 ? a + 2 * (3 * j + i) : a + 2 * (3 * i + j);
                        b[2 * (3 * i + j)] = src[0];
                        b[2 * (3 * i + j) + 1] = mu == 0 ? -src[1] : src[1];
                    }
            }
}

int main(int argc, char **argv) {
    const size_t dims[4] = {4, 4, 4, 4};
    const size_t volume = 4 * 4 * 4 * 4;
    const size_t n_links = 72 * volume, n_force = 32 * volume;

    /* The unit field, built as a plain array (layout: see fpa.h). */
    double *links = calloc(n_links, sizeof(double));
    for (size_t l = 0; l < 4 * volume; l++)
        for (int i = 0; i < 3; i++) links[18 * l + 2 * (3 * i + i)] = 1.0;
    FpaGauge *u = NULL;
    CHECK(fpa_gauge_from_array(dims, links, n_links, &u));
    if (fpa_gauge_plaquette(u) != 1.0) {
        fprintf(stderr, "the unit field has plaquette %f\n", fpa_gauge_plaquette(u));
        return 1;
    }

    /* A chain (1 heatbath + 4 overrelaxation sweeps per step, the updates of `fpa generate --or 4
       --seed 1`), started from the unit field; it keeps its packed field between steps. */
    FpaChain *chain = NULL;
    CHECK(fpa_chain_new(u, 6.0, 4, 1, 0, &chain));
    CHECK(fpa_chain_step(chain, 5));
    FpaGauge *c = NULL;
    CHECK(fpa_chain_gauge(chain, &c));
    printf("chain after %llu steps: plaquette %.6f\n", (unsigned long long)fpa_chain_sweeps(chain),
           fpa_gauge_plaquette(c));
    fpa_gauge_free(c);
    fpa_chain_free(chain);

    /* A chain without overrelaxation draws what the stand-alone heatbath sweeps draw. */
    CHECK(fpa_chain_new(u, 6.0, 0, 1, 0, &chain));
    CHECK(fpa_chain_step(chain, 20));
    CHECK(fpa_chain_gauge(chain, &c));
    if (fpa_chain_sweeps(chain) != 20) {
        fprintf(stderr, "the chain counts %llu sweeps\n", (unsigned long long)fpa_chain_sweeps(chain));
        return 1;
    }
    fpa_chain_free(chain);

    /* Thermalise at beta = 6.0 with fpa's heatbath (same streams as `fpa generate --seed 1`). */
    for (uint64_t sweep = 0; sweep < 20; sweep++) CHECK(fpa_heatbath_sweep(u, 6.0, 1, sweep));
    double *chain_links = malloc(n_links * sizeof(double));
    CHECK(fpa_gauge_to_array(c, chain_links, n_links));
    CHECK(fpa_gauge_to_array(u, links, n_links));
    for (size_t k = 0; k < n_links; k++)
        if (chain_links[k] != links[k]) {
            fprintf(stderr, "the chain and the heatbath sweeps differ at double %zu\n", k);
            return 1;
        }
    free(chain_links);
    fpa_gauge_free(c);
    if (fpa_chain_new(u, -1.0, 0, 1, 0, &chain) == FPA_OK) {
        fprintf(stderr, "a negative beta was accepted\n");
        return 1;
    }
    printf("expected error: %s\n", fpa_last_error());
    double plaq = fpa_gauge_plaquette(u), a_w = 0.0;
    CHECK(fpa_wilson_action(u, &a_w));
    /* A_W = 6 V (1 - <P>). */
    if (fabs(a_w - 6.0 * volume * (1.0 - plaq)) > 1e-9 * a_w) {
        fprintf(stderr, "Wilson action %.12f does not match the plaquette %.12f\n", a_w, plaq);
        return 1;
    }
    double *force = malloc(n_force * sizeof(double));
    CHECK(fpa_wilson_force(u, force, n_force));
    double norm = 0.0;
    for (size_t k = 0; k < n_force; k++) norm += force[k] * force[k];
    printf("plaquette %.6f  Wilson action %.6f  |force|^2 %.6f\n", plaq, a_w, norm);

    /* Round trip through the plain array. */
    CHECK(fpa_gauge_to_array(u, links, n_links));
    FpaGauge *v = NULL;
    CHECK(fpa_gauge_from_array(dims, links, n_links, &v));
    if (fabs(fpa_gauge_plaquette(v) - plaq) > 1e-14) {
        fprintf(stderr, "round trip changed the plaquette\n");
        return 1;
    }
    fpa_gauge_free(v);

    /* Round trips through gauge files in every format fpa writes. */
    const char *formats[4] = {"nersc", "nersc-2row", "ildg", "openqcd"};
    for (int k = 0; k < 4; k++) {
        char path[64];
        snprintf(path, sizeof path, "fpa-example-%d.cfg", k);
        CHECK(fpa_gauge_write(u, path, formats[k]));
        FpaGauge *w = NULL;
        CHECK(fpa_gauge_read(path, &w));
        if (fabs(fpa_gauge_plaquette(w) - plaq) > 1e-14) {
            fprintf(stderr, "%s round trip changed the plaquette\n", formats[k]);
            return 1;
        }
        fpa_gauge_free(w);
        remove(path);
    }
    if (fpa_gauge_write(u, "fpa-example-x.cfg", "milc") == FPA_OK) {
        fprintf(stderr, "writing MILC (read only) was accepted\n");
        return 1;
    }

    /* Errors are codes with a message, never a crash. */
    FpaGauge *missing = NULL;
    if (fpa_gauge_read("/no/such/file.nersc", &missing) == FPA_OK || missing != NULL) {
        fprintf(stderr, "reading a missing file succeeded\n");
        return 1;
    }
    printf("expected error: %s\n", fpa_last_error());
    if (fpa_wilson_force(u, force, 10) == FPA_OK) {
        fprintf(stderr, "a too short force buffer was accepted\n");
        return 1;
    }

    /* The learned FP action, if a model file is given. */
    if (argc > 1) {
        FpaModel *m = NULL;
        CHECK(fpa_model_load(argv[1], &m));
        double a_m = 0.0, a_f = 0.0;
        CHECK(fpa_model_action(m, u, &a_m));
        CHECK(fpa_model_force(m, u, &a_f, force, n_force));
        if (a_m != a_f || !(a_m > 0.0)) {
            fprintf(stderr, "model action %f / %f\n", a_m, a_f);
            return 1;
        }
        printf("L-CNN action %.6f (Wilson %.6f)\n", a_m, a_w);

        /* The pool of freed feature maps: the evaluations above left buffers in it; releasing them
           and a bound of 0 leave it empty, and the model's values do not change. */
        size_t kept = fpa_buffers_kept(), limit = fpa_buffers_limit();
        fpa_buffers_release();
        if (!(kept > 0) || fpa_buffers_kept() != 0 || limit != ((size_t)1 << 30)) {
            fprintf(stderr, "buffer pool: %zu bytes kept, %zu after release, limit %zu\n", kept,
                    fpa_buffers_kept(), limit);
            return 1;
        }
        fpa_buffers_set_limit(0);
        double a_0 = 0.0;
        CHECK(fpa_model_action(m, u, &a_0));
        if (fpa_buffers_kept() != 0 || fpa_buffers_limit() != 0 || a_0 != a_m) {
            fprintf(stderr, "bound 0: %zu bytes kept, action %.17g vs %.17g\n", fpa_buffers_kept(), a_0, a_m);
            return 1;
        }
        fpa_buffers_set_limit(limit);
        printf("buffer pool: %zu bytes kept after two evaluations, released\n", kept);

        /* Averaged over the 16 reflections, the action is reflection invariant; the plain network is
           not (it has weights per direction). */
        double *reflected = malloc(n_links * sizeof(double));
        CHECK(fpa_gauge_to_array(u, links, n_links));
        reflect_x(links, reflected, dims[0], volume / dims[0]);
        FpaGauge *r = NULL;
        CHECK(fpa_gauge_from_array(dims, reflected, n_links, &r));
        double a_r = 0.0, a_s = 0.0, a_sr = 0.0;
        CHECK(fpa_model_action(m, r, &a_r));
        CHECK(fpa_model_symmetrize(m, "reflections"));
        CHECK(fpa_model_action(m, u, &a_s));
        CHECK(fpa_model_action(m, r, &a_sr));
        if (fabs(a_s - a_sr) > 1e-12 * a_s || !(fabs(a_m - a_r) > 1e-9 * a_m)) {
            fprintf(stderr, "averaged %.15f / reflected %.15f, plain %.15f / reflected %.15f\n", a_s, a_sr,
                    a_m, a_r);
            return 1;
        }
        printf("averaged over reflections %.6f (reflected field %.6f; plain %.6f / %.6f)\n", a_s, a_sr, a_m,
               a_r);
        if (fpa_model_symmetrize(m, "rotations") == FPA_OK) {
            fprintf(stderr, "an unknown symmetry set was accepted\n");
            return 1;
        }
        printf("expected error: %s\n", fpa_last_error());
        CHECK(fpa_model_symmetrize(m, "none"));
        CHECK(fpa_model_action(m, u, &a_s));
        if (a_s != a_m) {
            fprintf(stderr, "\"none\" does not give the plain model back\n");
            return 1;
        }
        fpa_gauge_free(r);
        free(reflected);
        fpa_model_free(m);
    }
    fpa_gauge_free(u);
    free(force);
    free(links);
    printf("ok\n");
    return 0;
}
