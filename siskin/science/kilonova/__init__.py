"""Kilonova score features: the peer broker's principal-component fits of ZTF light curves.

Two peer versions are reproduced, each with its own vendored model (`siskin/science/artefacts/kilonova/`):
`kndetect` (fink-science 3.x to 8.x: Biswas et al. 2023, three PCs fitted per band by bounded L-BFGS-B,
the `partial.pkl` forest of the `kndetect` package) and `fink2021` (fink-science 0.4.x, 2021: two PCs
fitted per band by linear least squares on 0.25-day bins, the `KN_model_2PC.pkl` scaler + forest).
"""
