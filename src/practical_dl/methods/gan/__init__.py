"""The DCGAN: training (:mod:`.training`), classifier-based scores (:mod:`.scores`) and walks in the
latent space (:mod:`.latent`); its networks are in :mod:`practical_dl.models.gan`."""
