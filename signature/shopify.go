package signature

import "github.com/postbox/postbox"

// Shopify checks X-Shopify-Hmac-Sha256: HMAC-SHA256 of the body, base64,
// with the app's client secret (or the webhook signing secret shown in the
// admin). X-Shopify-Webhook-Id is the dedup key.
var Shopify = Scheme{Name: "shopify", New: newShopify}

func newShopify(decode func(any) error) (postbox.Verifier, error) {
	keys, err := decodeSecrets(decode)
	if err != nil {
		return nil, err
	}
	return &macVerifier{
		keys:      keys,
		headers:   []sigHeader{sha256Base64("X-Shopify-Hmac-Sha256", "")},
		message:   bodyOnly,
		idHeaders: []string{"X-Shopify-Webhook-Id"},
	}, nil
}
