/**
 * RADIUS second factor building blocks (RFC 2865 + RFC 3579 Message-Authenticator). The method
 * adapter (SecondFactorMethod) is a later step; it should map:
 *   accept → valid, reject → invalid("wrong"), challenge → a further prompt with `replyMessage`
 *   (state + serverIndex kept in ChallengeState), PortcullisError ERR_METHOD_UNAVAILABLE → fail closed.
 */
export {
	RadiusClient,
	sanitizeReplyMessage,
	validateRadiusClientOptions,
	RADIUS_DEFAULT_PORT,
	RADIUS_DEFAULT_RETRIES,
	RADIUS_DEFAULT_SERVICE_TYPES,
	RADIUS_DEFAULT_TIMEOUT_MS,
	RADIUS_RECOMMENDED_SECRET_LENGTH,
	type RadiusAuthResult,
	type RadiusAuthenticateInput,
	type RadiusClientOptions,
	type RadiusDropReason,
	type RadiusEvent,
	type RadiusRejectReason,
	type RadiusServerConfig,
	type RadiusServerProbe,
	type ResolvedAddress,
} from "./radius-client.ts";
