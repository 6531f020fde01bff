namespace TokenFactory.Engine;

/// <summary>
/// How urgently a request's tokens are wanted. The scheduler admits waiting work by class before fairness and
/// arrival, plans higher classes' prompt chunks first, preempts the lowest class first, and, while an
/// <see cref="Interactive"/> sequence runs, holds <see cref="Batch"/> prompts to a quarter of a step so
/// interactive decodes keep their pace. Declared highest first: a smaller value is more urgent.
/// </summary>
public enum PriorityClass
{
    /// <summary>A person is waiting on each token (chat, autocomplete).</summary>
    Interactive,
    /// <summary>The default.</summary>
    Standard,
    /// <summary>Throughput work nobody watches token by token (evaluations, bulk summarisation).</summary>
    Batch,
}
