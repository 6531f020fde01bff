using System.Runtime.InteropServices;
using TokenFactory.Kv;

namespace TokenFactory.Engine.Batching;

/// <summary>
/// Decides, every step, which tokens of which sequences run (iteration-level scheduling). Under a
/// per-step token budget it takes one decode token from every running sequence first, then chunks of
/// running prefills, then admits waiting requests (reusing cached prefix blocks) while enough free blocks
/// remain above a watermark: preempted ones first, then by class, then fairly between tenants (<see cref="NextWaiting"/>).
/// When a running sequence needs a block and none is free, the newest running sequence of the lowest class is
/// preempted: its blocks are released and it waits at the front of the queue to be recomputed (cheaply, from the
/// prefix cache, if its blocks survive). Engine thread only.
/// <para>
/// Priority classes (<see cref="PriorityClass"/>): decodes and prompt chunks of higher classes are planned first, and
/// while an interactive sequence runs, batch-class prompts get at most a quarter of a step's tokens: a step's time grows
/// with its tokens, so a long batch prompt cannot stretch the steps an interactive stream waits on.
/// </para>
/// <para>
/// Hybrid models (Mamba-2 blocks) also give every running sequence a recurrent-state slot, taken with its
/// first blocks and returned with them (finish, cancel, preemption), so a preempted sequence is recomputed
/// from position 0 with a fresh state. Recurrent state after a prefix cannot be rebuilt from cached KV
/// blocks, so prefix caching is off for them.
/// </para>
/// </summary>
public sealed partial class Scheduler
{
    private readonly KvBlockPool _pool;
    // Sliding layers' keys and values, kept apart so blocks behind the window go back to the pool (null: in _pool with the rest).
    private readonly KvBlockPool? _sliding;
    private readonly int _window;
    private readonly Models.RecurrentState? _states;
    private readonly List<Sequence> _waiting = [];
    private readonly List<Sequence> _running = [];
    private readonly ScheduledSequence[] _slots;
    private readonly Stack<ScheduledSequence> _freeSlots = new();
    private readonly List<ScheduledSequence> _planned = [];
    private int _budget;
    private readonly Models.RecurrentSnapshots? _snapshots;
    private readonly int _snapshotInterval;
    private readonly List<ulong> _sharedHashes = [];

    /// <param name="snapshots">
    /// Hybrid models: the recurrent-state snapshots that make prefix caching possible for them (without, it is off). A prompt's
    /// prefill then stops at every <paramref name="snapshotInterval"/>-th token, at its last full block and where its cached
    /// blocks ran out, to save the state there.
    /// </param>
    /// <param name="sliding">
    /// The sliding-window cache (sliding layers' keys and values) and <paramref name="window"/>, the tokens a sliding layer sees: a
    /// sequence holds a block there for each of its blocks in <paramref name="pool"/> until the window has passed it.
    /// </param>
    public Scheduler(KvBlockPool pool, int maxBatchTokens, int maxRunning, bool prefixCaching = true, int? watermarkBlocks = null,
        Models.RecurrentState? states = null, Models.RecurrentSnapshots? snapshots = null, int snapshotInterval = 128,
        KvBlockPool? sliding = null, int window = 0)
    {
        if (sliding != null && (window <= 0 || sliding.BlockSize != pool.BlockSize))
            throw new ArgumentException("A sliding-window cache needs a positive window and the main pool's block size.", nameof(sliding));
        // A prefix taken from the cache would have to agree with both the state snapshots and the sliding blocks; no model has both.
        if (sliding != null && snapshots != null)
            throw new ArgumentException("A sliding-window cache and recurrent-state snapshots cannot be combined.", nameof(sliding));
        _sliding = sliding;
        _window = window;
        if (snapshotInterval <= 0 || snapshotInterval % pool.BlockSize != 0)
            throw new ArgumentException($"The snapshot interval ({snapshotInterval}) must be a positive multiple of the block size ({pool.BlockSize}).", nameof(snapshotInterval));
        if (states != null && states.Slots < maxRunning)
            throw new ArgumentException($"{states.Slots} recurrent-state slots cannot serve {maxRunning} running sequences.", nameof(states));
        _pool = pool;
        _states = states;
        MaxBatchTokens = maxBatchTokens;
        MaxRunning = maxRunning;
        _snapshots = states != null && snapshots is { Capacity: > 0 } ? snapshots : null;
        _snapshotInterval = snapshotInterval;
        PrefixCaching = prefixCaching && (states == null || _snapshots != null);
        WatermarkBlocks = watermarkBlocks ?? Math.Max(1, pool.BlockCount / 100);
        _slots = new ScheduledSequence[maxRunning];
        for (int i = 0; i < maxRunning; i++)
            _slots[i] = new ScheduledSequence();
    }

    public int MaxBatchTokens { get; }
    public int MaxRunning { get; }
    public bool PrefixCaching { get; }
    /// <summary>Free blocks kept back when admitting, so running sequences can grow without preempting at once.</summary>
    public int WatermarkBlocks { get; }
    public KvBlockPool Pool => _pool;
    public KvBlockPool? SlidingPool => _sliding;

    public IReadOnlyList<Sequence> Waiting => _waiting;
    public IReadOnlyList<Sequence> Running => _running;
    /// <summary>The current step's sequences, in batch order.</summary>
    public IReadOnlyList<ScheduledSequence> Planned => _planned;
    public bool HasWork => _waiting.Count + _running.Count > 0;

    public long Preemptions { get; private set; }
    public long PrefixQueryTokens { get; private set; }
    public long PrefixHitTokens { get; private set; }

    public void Add(Sequence sequence)
    {
        sequence.Status = SequenceStatus.Waiting;
        _waiting.Add(sequence);
    }

    /// <summary>Plans the next step and writes its tokens into <paramref name="batch"/>.</summary>
    public void Schedule(StepBatch batch)
    {
        _planned.Clear();
        _freeSlots.Clear();
        foreach (var slot in _slots)
            _freeSlots.Push(slot);
        _budget = MaxBatchTokens;
        _batchPrefillPlanned = 0;
        _interactiveRunning = false;
        MakeRoomForHigherClass();
        for (int i = 0; i < _running.Count && !_interactiveRunning; i++)
            _interactiveRunning = _running[i].Group.Priority == PriorityClass.Interactive;
        // Decode tokens first, higher classes first: each costs one token of budget and keeps inter-token latency low. A
        // sequence whose reader is far behind waits (its blocks stay), so a slow client does not make the server buffer its answer.
        for (var c = PriorityClass.Interactive; c <= PriorityClass.Batch; c++)
        {
            for (int i = 0; i < _running.Count && _budget > 0;)
            {
                var s = _running[i];
                i = s.Group.Priority == c && s.UncomputedCount == 1 && !s.Output.WaitsForReader() ? PlanRunning(i) : i + 1;
            }
        }
        for (var c = PriorityClass.Interactive; c <= PriorityClass.Batch; c++)
        {
            for (int i = 0; i < _running.Count && _budget > 0;)
            {
                var s = _running[i];
                i = s.Group.Priority == c && s.UncomputedCount > 1 && !IsPlanned(s) ? PlanRunning(i) : i + 1;
            }
        }
        while (_budget > 0 && _running.Count < MaxRunning)
        {
            int next = NextWaiting();
            if (next < 0)
                break;
            if (!TryAdmit(next))
                break;
        }
        Fill(batch);
    }

    /// <summary>After the step ran: the planned tokens are in the cache; newly full blocks join the prefix cache.</summary>
    public void Complete()
    {
        foreach (var p in _planned)
        {
            var s = p.Sequence;
            s.ComputedCount += p.TokenCount;
            s.NotePromptReached();
            if (PrefixCaching)
                RegisterFullBlocks(s);
            if (_sliding != null)
                ReleaseBehindWindow(s);
            if (_snapshots != null && s.HashedBlocks * _pool.BlockSize == s.ComputedCount && IsSnapshotPoint(s, s.ComputedCount))
                _snapshots.Save(s.LastHash, s.StateSlot);
        }
    }

    /// <summary>Removes a sequence (finished or cancelled) and releases its blocks at once.</summary>
    public void Finish(Sequence sequence)
    {
        if (sequence.Admitted && sequence.Status != SequenceStatus.Finished)
            sequence.Group.Tenant.Release();
        if (_running.Remove(sequence))
            sequence.Group.Tenant.Running--;
        else
            _waiting.Remove(sequence);
        ReleaseBlocks(sequence);
        sequence.Status = SequenceStatus.Finished;
    }

    /// <summary>Moves every cancelled sequence, waiting or running, out (blocks released) into <paramref name="cancelled"/>.</summary>
    public void RemoveCancelled(List<Sequence> cancelled)
    {
        foreach (var list in (ReadOnlySpan<List<Sequence>>)[_waiting, _running])
        {
            for (int i = list.Count - 1; i >= 0; i--)
            {
                if (list[i].IsCancelled)
                    cancelled.Add(list[i]);
            }
        }
        foreach (var s in cancelled)
            Finish(s);
    }

    private bool IsPlanned(Sequence s)
    {
        foreach (var p in _planned)
        {
            if (p.Sequence == s)
                return true;
        }
        return false;
    }

    /// <summary>
    /// Plans running sequence <paramref name="index"/>, preempting others (<see cref="VictimIndex"/>) for blocks.
    /// Returns the index of the next running sequence to consider: preemption may have removed this one or earlier ones.
    /// </summary>
    private int PlanRunning(int index)
    {
        var s = _running[index];
        int n = ToNextSnapshot(s, Math.Min(Math.Min(s.UncomputedCount, _budget), PrefillRoom(s)));
        if (n == 0)
            return index + 1; // a batch-class prompt held back while an interactive sequence runs
        int need = BlocksFor(s.ComputedCount + n) - s.Blocks.Count;
        while (need > _pool.FreeBlockCount || (_sliding != null && need > _sliding.FreeBlockCount))
        {
            int v = VictimIndex();
            var victim = _running[v];
            Preempt(v);
            if (victim == s)
                return index; // the next sequence now sits where this one was
            if (v < index)
                index--;
        }
        AllocateBlocks(s, need);
        Plan(s, n);
        return index + 1;
    }

    /// <summary>
    /// The waiting sequence to admit next, or -1: a preempted one first (it holds progress), the highest class among
    /// them, unless a fresh one is of a higher class; otherwise the highest class, then the oldest of the tenant with the fewest sequences
    /// running, so a caller with many choices or many requests in the queue gets no more than its share while others
    /// wait. A choice whose sibling is still computing their shared prompt waits for it (it then takes those blocks from
    /// the prefix cache instead of computing them again); batch-class work waits while its share of the step is spent.
    /// </summary>
    private int NextWaiting()
    {
        int best = -1, fewest = int.MaxValue, preempted = -1;
        var bestClass = PriorityClass.Batch;
        for (int i = 0; i < _waiting.Count; i++)
        {
            var s = _waiting[i];
            var c = s.Group.Priority;
            if (s.IsCancelled || PrefillRoom(s) == 0)
                continue;
            if (s.Admitted)
            {
                // Preempted sequences sit at the front of the queue, so this is seen before any fresh one.
                if (preempted < 0 || c < _waiting[preempted].Group.Priority)
                    preempted = i;
                continue;
            }
            if (preempted >= 0 && c >= _waiting[preempted].Group.Priority)
                continue; // a preempted sequence of its class or above goes first: it holds progress
            int running = s.Group.Tenant.Running;
            if ((best < 0 || c < bestClass || c == bestClass && running < fewest) && !WaitsForSharedPrompt(s))
            {
                (best, fewest, bestClass) = (i, running, c);
                if (running == 0 && c == PriorityClass.Interactive)
                    break; // nothing can come before it, and this is the oldest such
            }
        }
        return best >= 0 && (preempted < 0 || bestClass < _waiting[preempted].Group.Priority) ? best : preempted;
    }

    /// <summary>
    /// Another running sequence is computing full blocks of this one's prompt that are not in the prefix cache yet: a
    /// sibling choice leading the same prompt, or another request with the same leading tokens (a shared system prompt,
    /// one document asked several questions at once). This one waits for them rather than compute them a second time,
    /// unless the other is of a lower class (an interactive prompt never waits on batch work).
    /// </summary>
    private bool WaitsForSharedPrompt(Sequence s)
    {
        if (!PrefixCaching || s.PromptLogprobs != null)
            return false;
        var leader = s.Group.Leader;
        if (leader is not null && leader != s && leader.Status == SequenceStatus.Running && ReferenceEquals(leader.Request.PromptTokens, s.Request.PromptTokens))
            return leader.HashedBlocks < (leader.PromptCount - 1) / _pool.BlockSize;
        return ComputingSharedBlocks(s);
    }

    private bool ComputingSharedBlocks(Sequence s)
    {
        int bs = _pool.BlockSize;
        int shareable = (s.PromptCount - 1) / bs; // the last token is always computed
        if (shareable == 0)
            return false;
        ReadOnlySpan<ulong> mine = default;
        foreach (var r in _running)
        {
            if (r.ComputedCount >= r.PromptCount || r.HashedBlocks >= shareable || r.Group.Priority > s.Group.Priority || r.PromptLogprobs != null)
                continue; // its prompt is done, or it cached all this one could take, or it is of a lower class
            if (mine.IsEmpty)
                mine = s.PromptBlockHashes(bs)[..shareable];
            var theirs = r.PromptBlockHashes(bs);
            // Chained hashes: the blocks in common are the leading equal ones, and the first differs for unrelated prompts.
            int common = mine.CommonPrefixLength(theirs);
            if (common > r.HashedBlocks)
                return true;
        }
        return false;
    }

    /// <returns>False when the KV cache has no room for it (admission stops for this step).</returns>
    private bool TryAdmit(int index)
    {
        var s = _waiting[index];
        bool share = PrefixCaching && s.PromptLogprobs == null;
        if (share)
            ShareCachedPrefix(s);
        int n = ToNextSnapshot(s, Math.Min(Math.Min(s.UncomputedCount, _budget), PrefillRoom(s)));
        int need = BlocksFor(s.ComputedCount + n) - s.Blocks.Count;
        // With nothing running the watermark would only stall: admit whatever fits.
        int reserve = _running.Count > 0 ? WatermarkBlocks : 0;
        if (need > _pool.FreeBlockCount - reserve || (_sliding != null && need > _sliding.FreeBlockCount - (_running.Count > 0 ? 1 : 0)))
        {
            ReleaseBlocks(s);
            return false;
        }
        if (!s.Admitted && !s.Group.TryStart())
        {
            // Displaced from the wait queue just now (another thread): it leaves as cancelled before the next step.
            ReleaseBlocks(s);
            return true;
        }
        if (share)
        {
            PrefixQueryTokens += s.Tokens.Count;
            PrefixHitTokens += s.ComputedCount;
            s.NotePromptReached(); // only now: a sequence that found its prefix but no room lets the blocks go again
        }
        if (_states != null && s.StateSlot < 0)
        {
            s.StateSlot = _states.Allocate();
            if (s.StateSlot < 0)
                throw new InvalidOperationException("Recurrent-state slots ran dry with fewer sequences running than slots.");
            // Resuming after a cached prefix: the Mamba blocks' state after it, as saved (checked present when the blocks were shared).
            if (s.ComputedCount > 0 && !_snapshots!.TryRestore(s.LastHash, s.StateSlot))
                throw new InvalidOperationException("A shared prefix's recurrent-state snapshot went missing before it was restored.");
        }
        if (!s.Admitted)
        {
            s.Admitted = true;
            s.Group.Tenant.Hold();
            s.CachedPromptTokens = s.ComputedCount;
            s.QueueTime = s.Clock.Elapsed;
        }
        AllocateBlocks(s, need);
        _waiting.RemoveAt(index);
        _running.Add(s);
        s.Group.Tenant.Running++;
        s.Group.Leader ??= s;
        s.Status = SequenceStatus.Running;
        _interactiveRunning |= s.Group.Priority == PriorityClass.Interactive;
        Plan(s, n);
        return true;
    }

    /// <summary>Takes references to cached blocks matching the sequence's leading full blocks; at least one token stays to compute.</summary>
    private void ShareCachedPrefix(Sequence s)
    {
        var tokens = CollectionsMarshal.AsSpan(s.Tokens);
        int bs = _pool.BlockSize;
        int limit = (tokens.Length - 1) / bs;
        _sharedHashes.Clear();
        while (s.Blocks.Count < limit && _pool.TryShare(s.LastHash, tokens.Slice(s.Blocks.Count * bs, bs), out int block, out ulong hash))
        {
            s.Blocks.Add(block);
            s.LastHash = hash;
            s.HashedBlocks++;
            _sharedHashes.Add(hash);
        }
        if (_snapshots != null)
        {
            // A hybrid resumes only where its Mamba state was saved: keep the blocks up to the deepest snapshot, compute the rest,
            // and save one where the cached blocks ran out, so the next prompt sharing them resumes there.
            int keep = s.Blocks.Count;
            while (keep > 0 && !_snapshots.Contains(_sharedHashes[keep - 1]))
                keep--;
            s.SnapshotBranch = s.Blocks.Count > keep ? s.Blocks.Count * bs : 0;
            for (int i = s.Blocks.Count - 1; i >= keep; i--)
            {
                _pool.Release(s.Blocks[i]);
                s.Blocks.RemoveAt(i);
            }
            s.HashedBlocks = keep;
            s.LastHash = keep > 0 ? _sharedHashes[keep - 1] : BlockHash.Root;
        }
        if (_sliding != null)
            ShareSlidingBlocks(s, tokens);
        s.ComputedCount = s.Blocks.Count * bs;
    }

    /// <summary>
    /// A prefix taken from the cache must also find its last window of sliding-layer blocks still cached: keep the most shared blocks
    /// for which it does (dropping the rest), take those sliding blocks, and mark the ones behind the window -1.
    /// </summary>
    private void ShareSlidingBlocks(Sequence s, ReadOnlySpan<int> tokens)
    {
        int bs = _pool.BlockSize, keep = s.Blocks.Count;
        while (keep > 0 && !SlidingWindowCached(keep, tokens))
            keep--;
        for (int i = s.Blocks.Count - 1; i >= keep; i--)
        {
            _pool.Release(s.Blocks[i]);
            s.Blocks.RemoveAt(i);
        }
        s.HashedBlocks = keep;
        s.LastHash = keep > 0 ? _sharedHashes[keep - 1] : BlockHash.Root;
        int first = FirstInWindow(keep * bs);
        for (int i = 0; i < keep; i++)
        {
            if (i < first)
            {
                s.SlidingBlocks.Add(-1);
                continue;
            }
            if (!_sliding!.TryShare(i == 0 ? BlockHash.Root : _sharedHashes[i - 1], tokens.Slice(i * bs, bs), out int block, out _))
                throw new InvalidOperationException("A sliding-window block checked cached was not found.");
            s.SlidingBlocks.Add(block);
        }
    }

    /// <summary>Whether the sliding blocks the token after <paramref name="blocks"/> shared blocks reads are all cached.</summary>
    private bool SlidingWindowCached(int blocks, ReadOnlySpan<int> tokens)
    {
        int bs = _pool.BlockSize;
        for (int i = FirstInWindow(blocks * bs); i < blocks; i++)
        {
            if (!_sliding!.Contains(i == 0 ? BlockHash.Root : _sharedHashes[i - 1], tokens.Slice(i * bs, bs)))
                return false;
        }
        return true;
    }

    /// <summary>The first block a token at <paramref name="position"/> (or later) reads in a sliding layer.</summary>
    private int FirstInWindow(int position) => Math.Max(0, position - _window + 1) / _pool.BlockSize;

    /// <summary>Releases the sliding blocks no future token of <paramref name="s"/> reads (those wholly before its window).</summary>
    private void ReleaseBehindWindow(Sequence s)
    {
        int first = Math.Min(FirstInWindow(s.ComputedCount), s.SlidingBlocks.Count);
        for (int i = first - 1; i >= 0 && s.SlidingBlocks[i] >= 0; i--)
        {
            _sliding!.Release(s.SlidingBlocks[i]);
            s.SlidingBlocks[i] = -1;
        }
    }

    /// <summary>
    /// A hybrid prompt's prefill chunk cut at its next snapshot point (<see cref="IsSnapshotPoint"/>), so the step ends with the
    /// state there; <paramref name="n"/> otherwise.
    /// </summary>
    private int ToNextSnapshot(Sequence s, int n)
    {
        if (_snapshots == null || n == 0)
            return n;
        int bs = _pool.BlockSize, last = LastShareable(s);
        for (int p = (s.ComputedCount / bs + 1) * bs; p <= last && p < s.ComputedCount + n; p += bs)
        {
            if (IsSnapshotPoint(s, p))
                return p - s.ComputedCount;
        }
        return n;
    }

    /// <summary>
    /// Where a hybrid prompt's state is saved: every interval, at the last full block a later prompt could share (the whole
    /// prompt of a conversation's next turn), and where this prompt's cached blocks ran out (a shared system prompt's end).
    /// </summary>
    private bool IsSnapshotPoint(Sequence s, int position)
    {
        int last = LastShareable(s);
        return position > 0 && position % _pool.BlockSize == 0 && position <= last
            && (position % _snapshotInterval == 0 || position == s.SnapshotBranch || position == last);
    }

    /// <summary>The end of a prompt's last full block that a later prompt could share (its last token is always computed).</summary>
    private int LastShareable(Sequence s) => (s.PromptCount - 1) / _pool.BlockSize * _pool.BlockSize;

    private void RegisterFullBlocks(Sequence s)
    {
        var tokens = CollectionsMarshal.AsSpan(s.Tokens);
        int bs = _pool.BlockSize;
        while ((s.HashedBlocks + 1) * bs <= s.ComputedCount)
        {
            var slice = tokens.Slice(s.HashedBlocks * bs, bs);
            ulong hash = BlockHash.Chain(s.LastHash, slice);
            _pool.Register(s.Blocks[s.HashedBlocks], s.LastHash, hash, slice);
            if (_sliding != null && s.SlidingBlocks[s.HashedBlocks] >= 0)
                _sliding.Register(s.SlidingBlocks[s.HashedBlocks], s.LastHash, hash, slice);
            s.LastHash = hash;
            s.HashedBlocks++;
        }
    }

    private void Preempt(int index)
    {
        var s = _running[index];
        for (int i = _planned.Count - 1; i >= 0; i--)
        {
            if (_planned[i].Sequence == s)
            {
                _budget += _planned[i].TokenCount;
                if (IsBatchPrefill(s))
                    _batchPrefillPlanned -= _planned[i].TokenCount;
                _freeSlots.Push(_planned[i]);
                _planned.RemoveAt(i);
            }
        }
        _running.RemoveAt(index);
        s.Group.Tenant.Running--;
        ReleaseBlocks(s);
        s.Status = SequenceStatus.Waiting;
        _waiting.Insert(0, s);
        s.Preemptions++;
        Preemptions++;
    }

    private void Plan(Sequence s, int tokens)
    {
        // Slots are reused objects; a step never plans more sequences than may run.
        var slot = _freeSlots.Pop();
        slot.Reset(s, tokens);
        _planned.Add(slot);
        _budget -= tokens;
        if (IsBatchPrefill(s))
            _batchPrefillPlanned += tokens;
    }

    private void Fill(StepBatch batch)
    {
        batch.Clear();
        foreach (var p in _planned)
        {
            var s = p.Sequence;
            int index = batch.AddSequence(s.Blocks, s.StateSlot, _sliding != null ? s.SlidingBlocks : null);
            for (int j = 0; j < p.TokenCount; j++)
            {
                int position = s.ComputedCount + j;
                bool last = position == s.Tokens.Count - 1;
                bool promptLogits = s.WantsPromptLogits && position >= s.PromptLogprobs!.Count - 1 && position < s.PromptCount - 1;
                int row = batch.AddToken(index, s.Tokens[position], position, last || promptLogits);
                if (row >= 0 && p.FirstLogitRow < 0)
                {
                    p.FirstLogitRow = row;
                    p.FirstLogitPosition = position;
                }
                if (row >= 0)
                    p.LogitRowCount++;
            }
        }
    }

    private int BlocksFor(int tokens) => (tokens + _pool.BlockSize - 1) / _pool.BlockSize;

    private void AllocateBlocks(Sequence s, int count)
    {
        for (int i = 0; i < count; i++)
        {
            int b = _pool.Allocate();
            if (b < 0)
                throw new InvalidOperationException("KV block pool ran dry after the scheduler checked it had room.");
            s.Blocks.Add(b);
            if (_sliding == null)
                continue;
            int sb = _sliding.Allocate();
            if (sb < 0)
                throw new InvalidOperationException("The sliding-window KV pool ran dry after the scheduler checked it had room.");
            s.SlidingBlocks.Add(sb);
        }
    }

    private void ReleaseBlocks(Sequence s)
    {
        // Last block first: in the eviction order a prefix's tail goes before its head.
        for (int i = s.Blocks.Count - 1; i >= 0; i--)
            _pool.Release(s.Blocks[i]);
        s.Blocks.Clear();
        for (int i = s.SlidingBlocks.Count - 1; i >= 0; i--)
        {
            if (s.SlidingBlocks[i] >= 0)
                _sliding!.Release(s.SlidingBlocks[i]);
        }
        s.SlidingBlocks.Clear();
        if (s.StateSlot >= 0)
        {
            _states!.Release(s.StateSlot);
            s.StateSlot = -1;
        }
        s.ComputedCount = 0;
        s.HashedBlocks = 0;
        s.LastHash = BlockHash.Root;
        s.SnapshotBranch = 0;
    }
}
