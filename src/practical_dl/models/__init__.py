"""Networks: the classifiers of the lecture (:mod:`.networks`), the exportable classifier that carries
its standardisation (:mod:`.classifier`), and the DCGAN's generator and discriminator
(:mod:`.gan`). Plain PyTorch: no Kedro, no MLflow."""
