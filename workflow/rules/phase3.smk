rule phase3:
    input:
        start=phase3_start,
        study=STUDY_PARAMS,
    output:
        directory(str(layout.run_dir(cfg, "{target}", "{condition}", "{seed}"))),
    params:
        fp=fingerprint(phase3_job),
        python=sys.executable,
    log:
        str(LOGS / "phase3" / "{target}-{condition}-seed{seed}.log"),
    threads: cfg.threads
    resources:
        gpu=0,
        mem_mb=grid.memory_mb(cfg, "phase3"),
        runtime=lambda wildcards: RUNTIME[f"phase3 {wildcards.target}"],
    conda:
        "../../environment.yml"
    shell:
        "{params.python} -m study.warm run study.runner 03_target_training.ipynb {output} --params {input.study}"
        " -p target {wildcards.target} -p condition {wildcards.condition} -p seed {wildcards.seed}"
        " -p processes {resources.gpu} 2>&1 | tee {log} > ${{STUDY_JOB_CONSOLE:-/dev/null}}"
