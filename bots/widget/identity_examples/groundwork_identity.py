import hashlib
import hmac
import os

# The secret from the Install page, in your server's settings.
SECRET = os.environ["GROUNDWORK_IDENTITY_SECRET"]


def groundwork_user_hash(user_id: str) -> str:
    """Vouches for a signed-in user to the chat widget."""
    return hmac.new(SECRET.encode(), user_id.encode(), hashlib.sha256).hexdigest()


# For the signed-in user, where the page is rendered:
#   user_id = str(user.pk)
#   user_hash = groundwork_user_hash(user_id)
