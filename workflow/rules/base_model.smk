rule base_model:
    input:
        study=STUDY_PARAMS,
    output:
        directory(str(cfg.study_dir / "pretrained")),
    params:
        fp=job_fingerprint(cfg, Job("base_model")),
        python=sys.executable,
    resources:
        mem_mb=grid.memory_mb(cfg, "base_model"),
    log:
        str(LOGS / "base_model.log"),
    threads: cfg.threads
    conda:
        "../../environment.yml"
    shell:
        "{params.python} -m study.warm run study.pretrained {input.study} 2>&1 | tee {log} > ${{STUDY_JOB_CONSOLE:-/dev/null}}"
