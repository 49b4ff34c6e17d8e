"""Chapter 09: is a trained model trustworthy? Measured four ways, one module each.

- :mod:`explain`: attributions (gradients, SmoothGrad, integrated gradients, Grad-CAM,
  occlusion) and two checks that they are faithful (weight randomisation, deletion).
- :mod:`robustness`: accuracy under FGSM and PGD attacks (the attacks themselves and the
  adversarial training step live in ``swtwo_tf.models.trust``).
- :mod:`fairness`: accuracy per group, and template sentences for a text model.
- :mod:`privacy`: DP-SGD's privacy budget (``dp-accounting``) and a membership-inference
  attack.

This room sits with ``evaluation`` (it measures trained models): it imports the rooms to its
left only.
"""

from swtwo_tf.trust import explain, fairness, privacy, robustness

__all__ = ["explain", "fairness", "privacy", "robustness"]
