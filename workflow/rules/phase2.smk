rule phase2:
    input:
        base=BASE,
        study=STUDY_PARAMS,
    output:
        directory(phase2_output()),
    params:
        fp=fingerprint(phase2_job),
        seed=phase2_seed_option,
        python=sys.executable,
    log:
        phase2_log(),
    threads: cfg.threads
    # before any phase-3 job that is ready: each phase-2 job frees two phase-3 jobs, and the
    # run does not end on a lone phase-2 job and the jobs it was holding back
    priority: 1
    resources:
        gpu=0,
        mem_mb=grid.memory_mb(cfg, "phase2"),
        runtime=RUNTIME["phase2"],
    conda:
        "../../environment.yml"
    shell:
        "{params.python} -m study.warm run study.runner 02_intermediate_training.ipynb {output} --params {input.study}"
        " -p condition {wildcards.condition}{params.seed} -p processes {resources.gpu} 2>&1 | tee {log} > ${{STUDY_JOB_CONSOLE:-/dev/null}}"
