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
