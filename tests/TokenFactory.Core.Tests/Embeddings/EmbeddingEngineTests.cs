using TokenFactory.Engine;
using TokenFactory.Engine.Embeddings;
using TokenFactory.Models;
using TokenFactory.Models.Bert;
using TokenFactory.Tests.Models;
using TokenFactory.Tokenization;

namespace TokenFactory.Tests.Embeddings;

/// <summary>
/// The batching embedding engine over the synthetic BERT encoder: concurrent requests share passes yet each gets the
/// vectors its inputs get alone; a cancelled request frees its place; a full queue refuses; bad inputs name themselves.
/// </summary>
public sealed class EmbeddingEngineTests
{
    private static (BertModel Model, Tokenizer Tokenizer) Load()
    {
        var model = BertModel.Load(SyntheticModels.Get("synth-bert-bert-tiny-F32-seed1"));
        return (model, Tokenizer.FromMetadata(model.File.Metadata));
    }

    [Fact]
    public async Task Concurrent_requests_share_passes_and_each_gets_what_its_inputs_get_alone()
    {
        var (model, tokenizer) = Load();
        using var owner = model;
        using var alone = new BertEncoder(model, threads: 1);
        var gate = new GatedModel(new BertEncoder(model, threads: 2));
        using var engine = new EmbeddingEngine(gate, tokenizer);
        var texts = Enumerable.Range(0, 24).Select(i => $"request {i} says {new string('a', i % 7 + 1)} and more").ToArray();

        // The first request's pass holds the engine while the other seven queue; then they go together.
        var chunks = texts.Chunk(3).ToArray();
        var first = engine.EmbedAsync([.. chunks[0].Select(t => tokenizer.Encode(t))]);
        await gate.Entered.WaitAsync(TimeSpan.FromSeconds(10));
        var rest = chunks.Skip(1).Select(chunk => engine.EmbedAsync([.. chunk.Select(t => tokenizer.Encode(t))])).ToArray();
        Assert.Equal(21, engine.Load.Waiting);
        gate.Release();
        var answers = await Task.WhenAll([first, .. rest]);
        var vectors = answers.SelectMany(a => a.Vectors).ToArray();
        for (int i = 0; i < texts.Length; i++)
        {
            var expected = new float[alone.Dimensions];
            alone.Encode([tokenizer.Encode(texts[i])], expected);
            Assert.Equal(expected, vectors[i]);
        }
        var counters = engine.Counters;
        Assert.Equal(24, counters.Inputs);
        Assert.Equal(2, counters.Passes);
        Assert.Equal(texts.Sum(t => (long)tokenizer.Encode(t).Length), counters.Tokens);
        Assert.All(answers, a => Assert.True(a.Work.PrefillSeconds > 0));
        Assert.Equal(0, engine.Load.Waiting);
    }

    [Fact]
    public async Task A_request_longer_than_one_pass_is_split_over_passes_in_order()
    {
        var (model, tokenizer) = Load();
        using var owner = model;
        using var engine = new EmbeddingEngine(new BertEncoder(model, maxBatchTokens: 512, threads: 2), tokenizer);
        var inputs = Enumerable.Range(0, 6).Select(i => Enumerable.Range(1000 + i, 200).ToArray()).ToArray();
        var result = await engine.EmbedAsync(inputs);
        Assert.Equal(6, result.Vectors.Length);
        Assert.Equal(3, engine.Counters.Passes); // two 200-token inputs per 512-token pass
        var single = await engine.EmbedAsync([inputs[5]]);
        Assert.Equal(single.Vectors[0], result.Vectors[5]);
    }

    [Fact]
    public async Task Bad_inputs_are_refused_before_anything_queues()
    {
        var (model, tokenizer) = Load();
        using var owner = model;
        using var engine = new EmbeddingEngine(new BertEncoder(model, threads: 1), tokenizer);
        var empty = await Assert.ThrowsAsync<ArgumentException>(() => engine.EmbedAsync([[101], []]));
        Assert.Equal("input", empty.ParamName);
        Assert.Contains("Input 1", empty.Message);
        var tooLong = await Assert.ThrowsAsync<ArgumentException>(() => engine.EmbedAsync([new int[513]]));
        Assert.Contains("at most 512", tooLong.Message);
        await Assert.ThrowsAsync<ArgumentException>(() => engine.EmbedAsync([[tokenizer.VocabSize]]));
        Assert.Equal(0, engine.Load.Waiting);
        Assert.Equal(0, engine.Counters.Passes);
    }

    [Fact]
    public async Task A_full_queue_refuses_and_a_cancelled_request_gives_back_its_place()
    {
        var (model, tokenizer) = Load();
        using var owner = model;
        var gate = new GatedModel(new BertEncoder(model, threads: 1));
        using var engine = new EmbeddingEngine(gate, tokenizer, maxWaitingInputs: 4);
        var running = engine.EmbedAsync([[101, 102]]);
        await gate.Entered.WaitAsync(TimeSpan.FromSeconds(10)); // the first pass holds the engine
        using var cancel = new CancellationTokenSource();
        var waiting = engine.EmbedAsync([[101, 102], [101, 102], [101, 102]], cancel.Token);
        Assert.Equal(3, engine.Load.Waiting);
        var refused = Assert.Throws<EngineOverloadedException>(() => { _ = engine.EmbedAsync([[101, 102], [101, 102]]); });
        Assert.Equal(3, refused.Waiting);

        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal(0, engine.Load.Waiting);
        var admitted = engine.EmbedAsync([[101, 102], [101, 102], [101, 102], [101, 102]]);
        gate.Release();
        Assert.Single((await running).Vectors);
        Assert.Equal(4, (await admitted).Vectors.Length);
    }

    [Fact]
    public async Task A_decoder_model_s_pass_takes_no_more_inputs_than_it_has_sequence_slots()
    {
        using var model = TransformerModel.Load(TestPaths.Stories260K);
        var tokenizer = Tokenizer.FromMetadata(model.File.Metadata);
        using var encoder = new DecoderEmbedder(model, PoolingType.Mean, 512, threads: 1);
        Assert.True(encoder.MaxBatchInputs < 300, $"{encoder.MaxBatchInputs} slots");
        using var engine = new EmbeddingEngine(encoder, tokenizer);
        // 300 one-token inputs fit one pass's 512 tokens but not its sequence slots: the engine splits them over passes.
        var inputs = Enumerable.Range(0, 300).Select(i => new[] { 1 + i % 100 }).ToArray();
        var result = await engine.EmbedAsync(inputs);
        Assert.Equal(300, result.Vectors.Length);
        Assert.True(engine.Counters.Passes >= 2, $"{engine.Counters.Passes} passes");
        var alone = new float[encoder.Dimensions];
        encoder.Encode([inputs[299]], alone);
        Assert.Equal(alone, result.Vectors[299]);
    }

    [Fact]
    public async Task A_request_that_races_disposal_is_refused_not_queued_forever()
    {
        var (model, tokenizer) = Load();
        using var owner = model;
        var engine = new EmbeddingEngine(new BertEncoder(model, threads: 1), tokenizer);
        Assert.Single((await engine.EmbedAsync([[101, 102]])).Vectors);
        // The engine goes away between the request's checks and its queueing.
        engine.BeforeEnqueue = engine.Dispose;
        Assert.Throws<ObjectDisposedException>(() => { _ = engine.EmbedAsync([[101, 102], [101, 102]]); });
        Assert.Equal(0, engine.Load.Waiting); // nothing left behind that no pass will ever take
    }

    [Fact]
    public async Task A_request_cancelled_between_passes_reports_the_tokens_its_finished_passes_ran()
    {
        var (model, tokenizer) = Load();
        using var owner = model;
        var gate = new GatedModel(new BertEncoder(model, maxBatchTokens: 512, threads: 1), gatedPass: 2);
        using var engine = new EmbeddingEngine(gate, tokenizer);
        // Twelve inputs of 100 tokens: five fit a 512-token pass, so the request takes three passes.
        var inputs = Enumerable.Range(0, 12).Select(i => Enumerable.Repeat(101 + i, 100).ToArray()).ToArray();
        using var cancel = new CancellationTokenSource();
        var request = engine.EmbedAsync(inputs, cancel.Token);
        await gate.Entered.WaitAsync(TimeSpan.FromSeconds(30)); // the first pass is done, the second held
        cancel.Cancel();
        gate.Release();
        var e = await Assert.ThrowsAsync<EmbeddingCancelledException>(() => request);
        // The first pass's five inputs and the running pass's five ran: charged, as a cancelled generation's tokens are;
        // the third pass's two never ran.
        Assert.Equal(1000, e.Tokens);
        Assert.True(e.Work.PrefillSeconds > 0);
        Assert.Equal(2, engine.Counters.Passes);
    }

    /// <summary>
    /// A request cancelled while its only pass runs ends when that pass does, with the pass's tokens: ended at once, it
    /// was charged nothing for a pass that still ran (a client could embed for free by disconnecting).
    /// </summary>
    [Fact]
    public async Task A_request_cancelled_during_its_pass_ends_when_the_pass_does_and_is_charged_for_it()
    {
        var (model, tokenizer) = Load();
        using var owner = model;
        var gate = new GatedModel(new BertEncoder(model, maxBatchTokens: 512, threads: 1), gatedPass: 1);
        using var engine = new EmbeddingEngine(gate, tokenizer);
        var inputs = Enumerable.Range(0, 5).Select(i => Enumerable.Repeat(101 + i, 100).ToArray()).ToArray();
        using var cancel = new CancellationTokenSource();
        var request = engine.EmbedAsync(inputs, cancel.Token);
        await gate.Entered.WaitAsync(TimeSpan.FromSeconds(30));
        cancel.Cancel();
        await Task.Delay(100);
        Assert.False(request.IsCompleted); // its pass is still running
        gate.Release();
        var e = await Assert.ThrowsAsync<EmbeddingCancelledException>(() => request);
        Assert.Equal(500, e.Tokens);
        Assert.True(e.Work.PrefillSeconds > 0);
    }

    /// <summary>
    /// At the server's shutdown deadline, requests not yet begun are stopped with a reason the server answers as 503
    /// server_shutting_down (they were cut with their connections); the pass under way finishes.
    /// </summary>
    [Fact]
    public async Task At_the_shutdown_deadline_waiting_requests_stop_and_the_running_pass_finishes()
    {
        var (model, tokenizer) = Load();
        using var owner = model;
        var gate = new GatedModel(new BertEncoder(model, threads: 1));
        using var engine = new EmbeddingEngine(gate, tokenizer);
        var running = engine.EmbedAsync([tokenizer.Encode("first")]);
        await gate.Entered.WaitAsync(TimeSpan.FromSeconds(10));
        var waiting = new[] { engine.EmbedAsync([tokenizer.Encode("second")]), engine.EmbedAsync([tokenizer.Encode("third")]) };
        Assert.Equal(2, engine.Load.Waiting);
        engine.CancelAll();
        foreach (var w in waiting)
            await Assert.ThrowsAsync<EngineStoppedException>(() => w);
        Assert.Equal(0, engine.Load.Waiting);
        gate.Release();
        Assert.Single((await running).Vectors);
    }

    /// <summary>One joule more at every reading.</summary>
    private sealed class OneJoulePerRead : IEnergyMeter
    {
        public int Reads;
        public bool IsEstimated => true;
        public string Source => "test";
        public double ReadJoules() => Interlocked.Increment(ref Reads);
    }

    [Fact]
    public async Task A_pass_that_overlaps_a_generation_step_is_charged_half_of_the_time_they_shared()
    {
        var (model, tokenizer) = Load();
        using var owner = model;
        var meter = new OneJoulePerRead();
        var metering = new MeterSharing(meter);
        var gate = new GatedModel(new BertEncoder(model, threads: 1));
        using var engine = new EmbeddingEngine(gate, tokenizer, metering: metering);
        // A decoder's generation step (as the batching engine runs one beside its embedding passes) holds the machine from
        // reading 1 (its start) to 3 (its end); the pass runs from 2 to 4. Charged alone, the pass would get 2 J.
        var step = new MeteredPass();
        metering.Begin(step);
        var request = engine.EmbedAsync([tokenizer.Encode("shared machine")]);
        await gate.Entered.WaitAsync(TimeSpan.FromSeconds(10));
        var (_, stepJoules) = metering.End(step);
        gate.Release();
        var answer = await request;
        Assert.Equal(1.5, stepJoules, 9);
        Assert.Equal(1.5, answer.Work.Joules, 9); // half of 2-3, all of 3-4
        Assert.Equal(4, meter.Reads);
    }

    /// <summary>Holds the first pass until released, so a test can fill the queue behind it.</summary>
    private sealed class GatedModel(IEmbeddingModel inner, int gatedPass = 1) : IEmbeddingModel
    {
        private readonly SemaphoreSlim _entered = new(0), _release = new(0);
        private int _passes;

        public Task Entered => _entered.WaitAsync();
        public void Release() => _release.Release();
        public int Dimensions => inner.Dimensions;
        public int ContextLength => inner.ContextLength;
        public int MaxBatchTokens => inner.MaxBatchTokens;
        public int MaxBatchInputs => inner.MaxBatchInputs;
        public PoolingType Pooling => inner.Pooling;

        public void Encode(IReadOnlyList<ReadOnlyMemory<int>> inputs, Span<float> output)
        {
            if (Interlocked.Increment(ref _passes) == gatedPass)
            {
                _entered.Release();
                _release.Wait();
            }
            inner.Encode(inputs, output);
        }

        public void Dispose() => inner.Dispose();
    }
}
