namespace TokenFactory.Floor.Ledger;

/// <summary>
/// A Responses API answer kept for <c>previous_response_id</c>: the conversation up to and including it (chat messages
/// as JSON, instructions excluded, as the API does not carry them over), readable only by the team that made it
/// (<c>""</c> without keys) until it expires.
/// </summary>
public sealed record StoredResponse(string Id, string TeamId, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, string Conversation);
