using TokenFactory.Compute;

namespace TokenFactory.Models;

public sealed partial class TransformerWeights
{
    /// <summary>
    /// Every matrix a one-token decode step multiplies, once each: attention, recurrent mixers (Mamba-2, DeltaNet), dense
    /// and per-layer-embedding products, each mixture's router and shared expert, the first <paramref name="usedExperts"/>
    /// experts' gate, up and down (standing for the ones a token picks: they are the same size), and the output head.
    /// The one list the memory roofline and the bandwidth probes read, so a matrix added to a block is counted by both;
    /// a test holds its bytes to the file's tensor table.
    /// </summary>
    public IReadOnlyList<WeightMatrix> MatricesPerToken(int usedExperts)
    {
        var list = new List<WeightMatrix>();
        void Add(in WeightMatrix w)
        {
            if (w.Rows > 0)
                list.Add(w);
        }
        foreach (var l in Layers)
        {
            foreach (var w in new[] { l.Query, l.Key, l.Value, l.Output, l.Gate, l.Up, l.Down, l.PerLayerGate, l.PerLayerProjection })
                Add(w);
            if (l.Mamba is { } mamba)
            {
                Add(mamba.InProjection);
                Add(mamba.OutProjection);
            }
            if (l.DeltaNet is { } delta)
            {
                foreach (var w in new[] { delta.QkvProjection, delta.GateProjection, delta.BetaProjection, delta.AlphaProjection, delta.OutProjection })
                    Add(w);
            }
            if (l.Experts is { } experts)
            {
                Add(experts.Router);
                foreach (var w in new[] { experts.SharedGate, experts.SharedUp, experts.SharedDown })
                {
                    if (w is { } shared)
                        Add(shared);
                }
                for (int e = 0; e < Math.Min(usedExperts, experts.Up.Length); e++)
                {
                    if (experts.Gate is { } gate)
                        Add(gate[e]);
                    Add(experts.Up[e]);
                    Add(experts.Down[e]);
                }
            }
        }
        Add(PerLayerModelProjection);
        Add(Output);
        return list;
    }

    /// <summary>Bytes a decode step looks up rather than multiplies: one row of the token embedding (and of gemma4's per-layer table).</summary>
    public long LookupBytesPerToken => TokenEmbedding.RowBytes + (PerLayerTokenEmbedding.Rows > 0 ? PerLayerTokenEmbedding.RowBytes : 0);
}
