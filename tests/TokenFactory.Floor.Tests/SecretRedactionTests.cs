using TokenFactory.Floor.Identity;

namespace TokenFactory.Floor.Tests;

/// <summary>A refused secret is answered and logged: only a key id of ours and its last characters show, never an operator's key.</summary>
public sealed class SecretRedactionTests
{
    [Theory]
    [InlineData("s3cret-admin")]                          // an operator's admin key sent to /v1 by mistake: all of it showed
    [InlineData("viewer-key-of-eighteen")]
    [InlineData("sk-proj-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [InlineData("tf-key_0123456789ab-short")]             // our prefix but too short to be one of ours
    public void A_secret_that_is_not_one_of_ours_is_not_echoed_at_all(string secret) =>
        Assert.Equal("****", FloorService.Redact(secret));

    [Fact]
    public void One_of_ours_shows_its_key_id_and_last_four_characters_only()
    {
        string id = ApiKeySecrets.NewKeyId();
        var (secret, _, _) = ApiKeySecrets.Create(id);
        string shown = FloorService.Redact(secret);
        Assert.Equal($"tf-{id}-****{secret[^4..]}", shown);
        Assert.DoesNotContain(secret[(id.Length + 4)..^4], shown);
    }
}
