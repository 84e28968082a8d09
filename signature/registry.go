package signature

// registry lists every scheme by the key that selects it under `auth:`.
// A new scheme is one more line here and one file of its own.
func registry() map[string]Scheme {
	schemes := []Scheme{
		Token,
		Basic,
		HMAC,
		WebhookHMAC,
		IP,
		GitHub,
		GitLab,
		Gitea,
		Forgejo,
		Bitbucket,
		Stripe,
		Slack,
		Shopify,
		StandardWebhooks,
		Svix,
		Twilio,
		Linear,
		Paddle,
		Square,
		Typeform,
		Zoom,
		Twitch,
		Mailgun,
		SendGrid,
		Discord,
	}
	m := make(map[string]Scheme, len(schemes))
	for _, s := range schemes {
		m[s.Name] = s
	}
	return m
}
