"""Domain adaptation from simulated to real AFM stacks, compared without labels.

:mod:`.cyclegan` (the simulated <-> experimental translator), :mod:`.domain` (domain
classifier and detector features), :mod:`.adversarial` (gradient-reversal domain head of method
adversarial), :mod:`.pipeline` (the methods none, augment, cyclegan, hybrid, adversarial and the
rules' entry points). The handcrafted augmentations live with the training
loader (:func:`iceafm.data.loader.augment_sample`); the label-free metrics in
:mod:`iceafm.metrics.label_free`.
"""
