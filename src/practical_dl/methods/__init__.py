"""What the lecture teaches beyond plain supervised training: adversarial attacks (:mod:`.attacks`),
the adversarial patch (:mod:`.patch`), transfer learning (:mod:`.transfer`), calibration and
ensembles (:mod:`.calibration`), and the DCGAN's training, scores and latent space (:mod:`.gan`).
No Kedro."""
