if not FAMILIES:  # one phase-2 family: outputs/<study>/selection

    rule select:  # needs no model: it runs beside the base model's build
        input:
            study=STUDY_PARAMS,
        output:
            directory(str(layout.selection_dir(cfg))),
        params:
            fp=job_fingerprint(cfg, Job("select")),
            python=sys.executable,
        resources:
            mem_mb=grid.memory_mb(cfg, "select"),
        log:
            str(LOGS / "select.log"),
        threads: cfg.threads
        conda:
            "../../environment.yml"
        shell:
            "{params.python} -m study.warm run study.runner 01_data_selection.ipynb {output} --params {input.study}"
            " 2>&1 | tee {log} > ${{STUDY_JOB_CONSOLE:-/dev/null}}"

else:  # several (data.families): outputs/<study>/selection/<family>, one job each

    rule select:
        input:
            study=STUDY_PARAMS,
        output:
            directory(str(layout.selection_dir(cfg, "{family}"))),
        params:
            fp=fingerprint(lambda w: Job("select", family=w.family)),
            python=sys.executable,
        resources:
            mem_mb=grid.memory_mb(cfg, "select"),
        log:
            str(LOGS / "select-{family}.log"),
        threads: cfg.threads
        conda:
            "../../environment.yml"
        shell:
            "{params.python} -m study.warm run study.runner 01_data_selection.ipynb {output} --params {input.study}"
            " -p family {wildcards.family} 2>&1 | tee {log} > ${{STUDY_JOB_CONSOLE:-/dev/null}}"
