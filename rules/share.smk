# What a DVC remote shares per source (dvc.yaml stages proxy_data, warmup_<source>, selections_<source>):
# the decoded-sample caches, the warm-up checkpoints and training curves, the warm-up feature dumps and the image-level
# selection lists of the budget. After `dvc pull`, `snakemake --cores 1 --touch shared_<source>`
# marks them up to date (pulled files get arbitrary modification times), so the next run reuses
# them instead of recomputing.
for _source in SOURCES:

    rule:
        name:
            f"shared_{_source}"
        input:
            shared_files(_source),


# The targets of dvc.yaml's and pipelines/*/dvc.yaml's stages, by name: a DVC `cmd` names one of these
# rules and never interpolates a path into shell text (a results folder or dataset root may hold
# spaces, quotes, `;`, `$()`), so that a value set with `dvc exp run -S` reaches Snakemake as config,
# not as a command line. dvc_proxy_data: the proxy datasets of the first source and the target, and
# their decoded-sample caches; dvc_proxy_<source>: another proxy source; per seed:
# dvc_warmup_<source>_s<seed> (checkpoints), dvc_warmup_features_<source>_s<seed> (feature dumps),
# dvc_selections_<source>_s<seed> (random, MADA and MADAv2 selection lists of the budget).
if SOURCES:

    rule dvc_proxy_data:
        input:
            config["datasets"][SOURCES[0]]["root"],
            config["datasets"][TARGET]["root"],
            f"{R}/cache/{SOURCES[0]}/train.h5",
            [f"{R}/cache/{TARGET}/{split}.h5" for split in ("train", "val")],


for _source in SOURCES[1:]:

    rule:
        name:
            f"dvc_proxy_{_source}"
        input:
            config["datasets"][_source]["root"],


for _source in SOURCES:
    for _seed in SEEDS:

        rule:
            name:
                f"dvc_warmup_{_source}_s{_seed}"
            input:
                warmup_files(_source, _seed),

        rule:
            name:
                f"dvc_warmup_features_{_source}_s{_seed}"
            input:
                warmup_feature_dumps(_source, _seed),

        rule:
            name:
                f"dvc_selections_{_source}_s{_seed}"
            input:
                shared_selection_files(_source, _seed),
