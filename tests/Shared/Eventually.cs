namespace TokenFactory.Tests;

public static class Eventually
{
    /// <summary>
    /// Reads until <paramref name="check"/> holds (for state that settles asynchronously: a sample taken once a second,
    /// a health check), failing with the last value read after <paramref name="seconds"/>.
    /// </summary>
    public static async Task<T> HoldsAsync<T>(Func<Task<T>> read, Func<T, bool> check, double seconds = 5)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var value = await read();
            if (check(value))
                return value;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"still {value} after {seconds} s");
            await Task.Delay(100);
        }
    }
}
