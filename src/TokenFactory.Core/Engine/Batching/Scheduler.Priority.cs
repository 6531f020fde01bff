namespace TokenFactory.Engine.Batching;

/// <summary>
/// The scheduler's priority classes (<see cref="PriorityClass"/>): how much of a step batch-class prompts may take while an
/// interactive sequence runs, and whom to preempt. The class orders of admission and planning are in the main file.
/// </summary>
public sealed partial class Scheduler
{
    /// <summary>This step: whether an interactive sequence runs, and the batch-class prompt tokens planned so far (<see cref="PrefillRoom"/>).</summary>
    private bool _interactiveRunning;
    private int _batchPrefillPlanned;

    /// <summary>While an interactive sequence runs, batch-class prompts get at most 1/this of a step's token budget.</summary>
    public const int BatchShareWhileInteractive = 4;

    /// <summary>
    /// Every running slot is taken and a sequence of a higher class than batch waits: a batch-class sequence gives its
    /// slot up and the waiting one takes it. Only one that resumes cheaply (its blocks stay in the prefix cache) and has
    /// given way fewer than <see cref="MaxSlotYields"/> times, the one that has given way least and then the newest, so no
    /// batch request is preempted over and over. One a step; batch work absorbs the delay instead of an interactive
    /// request waiting for a long generation to end.
    /// </summary>
    private void MakeRoomForHigherClass()
    {
        if (_running.Count < MaxRunning || !PrefixCaching)
            return;
        bool higherWaits = false;
        foreach (var w in _waiting)
        {
            if (w.Group.Priority < PriorityClass.Batch && !w.IsCancelled && !w.Admitted && !WaitsForSharedPrompt(w))
            {
                higherWaits = true;
                break;
            }
        }
        if (!higherWaits)
            return;
        int victim = -1;
        for (int i = _running.Count - 1; i >= 0; i--)
        {
            var r = _running[i];
            // Counted apart from preemptions for want of blocks: those must not use up the yields that keep interactive work from waiting.
            if (r.Group.Priority == PriorityClass.Batch && r.PromptLogprobs == null && r.SlotYields < MaxSlotYields
                && (victim < 0 || r.SlotYields < _running[victim].SlotYields))
                victim = i;
        }
        if (victim >= 0)
        {
            _running[victim].SlotYields++;
            Preempt(victim);
        }
    }

    /// <summary>How many times a batch sequence may give its slot up to higher-class work (block shortage aside).</summary>
    public const int MaxSlotYields = 3;

    /// <summary>The running sequence to preempt when blocks run out: the newest of the lowest class.</summary>
    private int VictimIndex()
    {
        int victim = _running.Count - 1;
        for (int i = victim - 1; i >= 0; i--)
        {
            if (_running[i].Group.Priority > _running[victim].Group.Priority)
                victim = i;
        }
        return victim;
    }

    /// <summary>
    /// Tokens this sequence's prompt may still take in this step beyond the budget: unlimited except for batch-class
    /// prompts while an interactive sequence runs (a quarter of the step between them). Decodes are never limited.
    /// </summary>
    private int PrefillRoom(Sequence s) => IsBatchPrefill(s) && _interactiveRunning
        ? Math.Max(0, Math.Max(1, MaxBatchTokens / BatchShareWhileInteractive) - _batchPrefillPlanned)
        : int.MaxValue;

    /// <summary>A batch-class sequence with prompt (or recomputation) tokens to run, not a decode.</summary>
    private static bool IsBatchPrefill(Sequence s) =>
        s.Group.Priority == PriorityClass.Batch && !(s.UncomputedCount == 1 && s.GeneratedCount > 0);
}
