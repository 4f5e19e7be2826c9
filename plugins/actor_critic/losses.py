"""The actor-critic loss shared by a2c, impala, unreal and metagrad.

    targets v_s and advantages from V-trace (n-step returns when on-policy),
    policy loss   −log π(a_s|x_s) · A_s
    value loss    ½ (v_s − V(x_s))²          (on PopArt-normalized targets and outputs when enabled)
    entropy bonus −β H(π(·|x_s))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from plugins.actor_critic.core import Evaluation, entropy_of, log_prob_of
from plugins.actor_critic.popart import PopArt
from plugins.actor_critic.rollout import Batch
from plugins.actor_critic.vtrace import successor_values, vtrace


@dataclass
class LossWeights:
    value_cost: float = 0.5
    entropy_cost: float = 0.01
    rho_bar: float = 1.0
    c_bar: float = 1.0


@dataclass
class LossOutput:
    loss: torch.Tensor
    policy_loss: torch.Tensor
    value_loss: torch.Tensor
    entropy: torch.Tensor
    targets: torch.Tensor  # v_s (unnormalized)


def actor_critic_loss(out: Evaluation, batch: Batch, gamma: torch.Tensor | float, weights: LossWeights,
                      popart: PopArt | None = None, off_policy: bool = False,
                      targets_from: Evaluation | None = None) -> LossOutput:
    """The loss of one batch. With PopArt, the statistics are updated with this batch's targets
    (outputs preserved) before the normalized value loss is formed, as in van Hasselt et al. 2016.

    ``gamma`` may be a tensor with gradient (meta-gradients): targets and advantages then depend on
    it, while values enter them without gradient. ``targets_from`` (default ``out``) gives the values
    the targets bootstrap from, when they should come from another evaluation.
    """
    discounts = gamma * (~batch.terminated).to(out.values.dtype)
    source = out if targets_from is None else targets_from
    values = source.values.detach()
    next_values = successor_values(values, source.ended_next_values.detach(), batch.ends)
    log_probs = log_prob_of(out.logits, batch.action)
    log_rhos = (log_probs.detach() - batch.behaviour_log_prob) if off_policy else torch.zeros_like(values)
    targets, advantages = vtrace(log_rhos, discounts, batch.reward.to(values.dtype), values, next_values,
                                 batch.ends, weights.rho_bar, weights.c_bar)
    if popart is not None:
        popart.update(targets, batch.task)
        normalized_targets = popart.normalize(targets, batch.task)
        value_loss = 0.5 * (normalized_targets - popart.normalized(out.head_features, batch.task)).pow(2).mean()
        advantages = advantages / popart.scale(batch.task).to(advantages.dtype)
    else:
        value_loss = 0.5 * (targets - out.values).pow(2).mean()  # out.values carries the gradient
    policy_loss = -(log_probs * advantages).mean()
    entropy = entropy_of(out.logits).mean()
    loss = policy_loss + weights.value_cost * value_loss - weights.entropy_cost * entropy
    return LossOutput(loss, policy_loss, value_loss, entropy, targets)
