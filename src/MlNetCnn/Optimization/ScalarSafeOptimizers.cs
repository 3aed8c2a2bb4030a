using TorchSharp;
using static TorchSharp.torch;

// TorchSharp 0.107's Adam, AdamW and SGD pass temporary Scalars (alpha, value, a division by a double) to libtorch
// without keeping them alive, so a garbage collection started by another thread during the native call can run their
// finalizers and free the number libtorch is reading (c10's "Scalar::toFloat" overflow error, or a silently wrong
// factor). These subclasses take the same steps with every Scalar held by a using until its call returns. Their type
// names are TorchSharp's, so the optimizer state they save is TorchSharp's format and older checkpoints resume.
namespace MlNetCnn.Training.ScalarSafe
{
    /// <summary>Adam (with L2 weight decay added to the gradient) whose step keeps its Scalars alive.</summary>
    internal sealed class Adam(IEnumerable<TorchSharp.Modules.Adam.ParamGroup> groups, double lr, double weightDecay)
        : TorchSharp.Modules.Adam(groups, lr, weight_decay: weightDecay)
    {
        public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
        {
            var options = (Options)group.Options;
            double decay = options.weight_decay!.Value;
            using var decayScalar = decay.ToScalar();
            foreach (var parameter in group.Parameters)
            {
                var state = (State)_state[parameter.Handle];
                var gradient = parameter.grad;
                if (gradient is null)
                    continue;
                state.step += 1;
                if (decay != 0)
                    gradient = gradient.add(parameter, decayScalar);
                AdamMoments.Update(parameter, gradient, state.exp_avg, state.exp_avg_sq, state.step,
                    options.beta1!.Value, options.beta2!.Value, options.eps!.Value, options.LearningRate!.Value);
            }
        }, closure);
    }

    /// <summary>AdamW (decoupled weight decay) whose step keeps its Scalars alive.</summary>
    internal sealed class AdamW(IEnumerable<TorchSharp.Modules.AdamW.ParamGroup> groups, double lr, double weightDecay)
        : TorchSharp.Modules.AdamW(groups, lr, weight_decay: weightDecay)
    {
        public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
        {
            var options = (Options)group.Options;
            double lr = options.LearningRate!.Value;
            using var shrink = (1 - lr * options.weight_decay!.Value).ToScalar();
            foreach (var parameter in group.Parameters)
            {
                var state = (State)_state[parameter.Handle];
                var gradient = parameter.grad;
                if (gradient is null)
                    continue;
                state.step += 1;
                parameter.mul_(shrink);
                AdamMoments.Update(parameter, gradient, state.exp_avg, state.exp_avg_sq, state.step,
                    options.beta1!.Value, options.beta2!.Value, options.eps!.Value, lr);
            }
        }, closure);
    }

    /// <summary>SGD with momentum, dampening, Nesterov and L2 weight decay whose step keeps its Scalars alive.</summary>
    internal sealed class SGD(IEnumerable<TorchSharp.Modules.SGD.ParamGroup> groups, double lr, double momentum, double weightDecay, bool nesterov)
        : TorchSharp.Modules.SGD(groups, lr, momentum, weight_decay: weightDecay, nesterov: nesterov)
    {
        public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
        {
            var options = group.Options;
            double momentum = options.momentum!.Value, decay = options.weight_decay!.Value;
            using var decayScalar = decay.ToScalar();
            using var momentumScalar = momentum.ToScalar();
            using var undamped = (1 - options.dampening!.Value).ToScalar();
            using var stepScalar = (options.maximize!.Value ? options.LearningRate!.Value : -options.LearningRate!.Value).ToScalar();
            foreach (var parameter in group.Parameters)
            {
                var state = (State)_state[parameter.Handle];
                var gradient = parameter.grad;
                if (gradient is null)
                    continue;
                if (decay != 0)
                    gradient = gradient.add(parameter, decayScalar);
                if (momentum != 0)
                {
                    var buffer = state.momentum_buffer;
                    if (buffer is null)
                        state.momentum_buffer = buffer = gradient.clone().detach().DetachFromDisposeScope();
                    else
                        buffer.mul_(momentumScalar).add_(gradient, undamped);
                    gradient = options.nesterov!.Value ? gradient.add(buffer, momentumScalar) : buffer;
                }
                parameter.add_(gradient, stepScalar);
            }
        }, closure);
    }

    /// <summary>Adam's moment updates and step, shared by Adam and AdamW.</summary>
    internal static class AdamMoments
    {
        public static void Update(Tensor parameter, Tensor gradient, Tensor average, Tensor squareAverage, long step,
            double beta1, double beta2, double eps, double lr)
        {
            double correction1 = 1 - Math.Pow(beta1, step), correction2 = 1 - Math.Pow(beta2, step);
            using var beta1Scalar = beta1.ToScalar();
            using var oneMinusBeta1 = (1 - beta1).ToScalar();
            using var beta2Scalar = beta2.ToScalar();
            using var oneMinusBeta2 = (1 - beta2).ToScalar();
            using var root = Math.Sqrt(correction2).ToScalar();
            using var epsScalar = eps.ToScalar();
            // Tensor.add_(Scalar) passes a temporary Scalar 1 as alpha, which a collection can free mid-call: hold it here.
            using var one = 1.0.ToScalar();
            using var stepSize = (-lr / correction1).ToScalar();
            average.mul_(beta1Scalar).add_(gradient, oneMinusBeta1);
            squareAverage.mul_(beta2Scalar).addcmul_(gradient, gradient, oneMinusBeta2);
            var denominator = squareAverage.sqrt().div_(root).add_(epsScalar, one);
            parameter.addcdiv_(average, denominator, stepSize);
        }
    }
}
