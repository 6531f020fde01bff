using System.Security.Cryptography;
using System.Text;

namespace TokenFactory.Floor.Identity;

/// <summary>
/// Makes and checks key secrets: <c>tf-{id}-{43 random base64url chars}</c>. 256 random bits need no slow
/// password hash (nothing to brute-force), so a salted SHA-256 keeps verification at microseconds per request.
/// </summary>
public static class ApiKeySecrets
{
    private const string Prefix = "tf-";

    public static string NewKeyId() => "key_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    /// <summary>A new secret for <paramref name="keyId"/>, and the salt and hash to store.</summary>
    public static (string Secret, string Salt, string Hash) Create(string keyId)
    {
        string secret = $"{Prefix}{keyId}-{Base64Url(RandomNumberGenerator.GetBytes(32))}";
        string salt = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        return (secret, salt, HashOf(secret, salt));
    }

    /// <summary>The key id inside a presented secret, or null when it is not one of ours.</summary>
    public static string? KeyIdOf(string secret)
    {
        if (!secret.StartsWith(Prefix, StringComparison.Ordinal))
            return null;
        int dash = secret.IndexOf('-', Prefix.Length);
        return dash > Prefix.Length ? secret[Prefix.Length..dash] : null;
    }

    public static bool Verify(string secret, ApiKey key) =>
        CryptographicOperations.FixedTimeEquals(Convert.FromHexString(HashOf(secret, key.Salt)), Convert.FromHexString(key.Hash));

    /// <summary>Constant-time comparison for the admin key, which is configured, not stored.</summary>
    public static bool SameSecret(string presented, string expected) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), SHA256.HashData(Encoding.UTF8.GetBytes(expected)));

    private static string HashOf(string secret, string salt) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(salt + ":" + secret)));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
