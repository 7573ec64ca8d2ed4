# Annotation rounds (config oracle: labelstudio): a selection round's asks go to annotators and their
# labels come back before the round's fine-tuning (src/adaseg/annotate/). Rule annotation_tasks
# writes the round's Label Studio tasks (pre-annotated by the selecting model) and, with
# LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY in the environment, creates the round's project and
# imports them. Checkpoint annotated_labels reads the annotations back (waiting up to
# annotation.wait_minutes), checks every asked-for pixel got a class, and writes the label PNGs and
# the labelled pixels that rule finetune reads. While tasks are open it stops, naming them; run the
# same command again once they are annotated. With oracle: ground_truth nothing here runs.


rule annotation_tasks:
    input:
        selection=selection_files,
        checkpoint=selecting_checkpoint,
        previous=previous_round_masks,
        data=dataset_input(TARGET),
    output:
        tasks=f"{SEL}/annotation/tasks.json",
        project=f"{SEL}/annotation/project.json",
        interface=f"{SEL}/annotation/label_config.xml",
    params:
        launch=launch(),
        target=TARGET,
        run=lambda wc: f"{wc.source}/{RUN.format(**dict(wc.items()))}",
        out_dir=lambda wc, output: os.path.dirname(output.tasks),
        previous=lambda wc, input: f"--previous-masks {shlex.quote(input.previous[0])}" if input.previous else "",
        cfg=lambda wc: sections("annotation", "evaluation", datasets=[TARGET]) + PRECISION,
    threads: config["threads"]
    resources:
        **job_resources("infer", GPU_INFER),
    log:
        f"{LOGS}/{{source}}/annotate/s{{seed}}/{{strategy}}_{{budget}}_{{objective}}_round{{round}}of{{rounds}}_tasks.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/annotate/s{{seed}}/{{strategy}}_{{budget}}_{{objective}}_round{{round}}of{{rounds}}_tasks.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} export-tasks --config \"$ADASEG_CONFIG\" --threads {threads} --seed {wildcards.seed:q} "
        "--selection {input.selection[0]:q} --checkpoint {input.checkpoint:q} --target {params.target:q} "
        "{params.previous} --round-name {params.run:q} --out-dir {params.out_dir:q} 2> {log:q}"


checkpoint annotated_labels:
    input:
        unpack(previous_round_annotation),
        selection=selection_files,
        project=f"{SEL}/annotation/project.json",
        data=dataset_input(TARGET),
    output:
        labels=directory(f"{SEL}/annotation/labels"),
        masks=f"{SEL}/annotation/masks.h5",
    params:
        launch=ADASEG,
        target=TARGET,
        previous=previous_annotation_flags,
        cfg=lambda wc: sections(datasets=[TARGET]),
    resources:
        **job_resources("other"),
    log:
        f"{LOGS}/{{source}}/annotate/s{{seed}}/{{strategy}}_{{budget}}_{{objective}}_round{{round}}of{{rounds}}_labels.log",
    conda:
        "../envs/adaseg.yaml"
    shell:
        # on failure (tasks still open, or a bad annotation) the log's last line says what to do: show it
        "{params.launch} import-labels --config \"$ADASEG_CONFIG\" --seed {wildcards.seed:q} "
        "--selection {input.selection[0]:q} --target {params.target:q} --project {input.project:q} {params.previous} "
        "--labels-out {output.labels:q} --masks-out {output.masks:q} 2> {log:q} "
        "|| {{ tail -n 1 {log:q} >&2; exit 1; }}"
