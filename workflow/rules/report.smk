rule report:
    input:
        **report_inputs(),
        study=STUDY_PARAMS,
    output:
        analysis=directory(str(layout.analysis_dir(cfg))),
        html=report_file(),
    params:
        fp=job_fingerprint(cfg, Job("report")),
        python=sys.executable,
    resources:
        mem_mb=grid.memory_mb(cfg, "report"),
    log:
        str(LOGS / "report.log"),
    threads: cfg.threads
    conda:
        "../../environment.yml"
    shell:
        "{params.python} -m study.warm run study.runner 04_analysis.ipynb {output.analysis} --params {input.study}"
        " --html {output.html} 2>&1 | tee {log} > ${{STUDY_JOB_CONSOLE:-/dev/null}}"
