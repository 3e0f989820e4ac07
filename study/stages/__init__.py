"""The study's stages, one module per notebook: `data_selection` (01),
`intermediate_training` (02), `target_training` (03); the analysis (04) is `study.report`."""
