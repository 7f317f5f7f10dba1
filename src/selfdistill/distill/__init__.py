"""Self-distillation maths and the one training step: token scoring, losses, teacher
contexts and weights, and the step every online recipe (sdpo, discover, assist) calls."""
