const crypto = require("node:crypto");

// The secret from the Install page, in your server's settings.
const SECRET = process.env.GROUNDWORK_IDENTITY_SECRET;

// Vouches for a signed-in user to the chat widget.
function groundworkUserHash(userId) {
  return crypto
    .createHmac("sha256", SECRET)
    .update(String(userId))
    .digest("hex");
}

// For the signed-in user, where the page is rendered:
//   const userId = String(user.id);
//   const userHash = groundworkUserHash(userId);
