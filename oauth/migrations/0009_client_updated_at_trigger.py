"""Every UPDATE of a client row moves its ``updated_at``, whatever issued it.

The client-credentials INSERT confirms that the client it was authenticated with is still
the row as read (``updated_at`` unchanged, not disabled), which lets that path keep clients
in a process cache (``oauth.selectors.client_by_client_id``). ``save()`` moves
``updated_at`` (``auto_now``), but a ``QuerySet.update()`` or an operator's SQL would not:
this trigger makes the rule hold for any write. ``clock_timestamp()``, not ``now()``, so two
updates in one transaction still differ.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION gatehouse_client_touched() RETURNS trigger AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER oauth_client_touched BEFORE UPDATE ON oauth_client
    FOR EACH ROW EXECUTE FUNCTION gatehouse_client_touched();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS oauth_client_touched ON oauth_client;
DROP FUNCTION IF EXISTS gatehouse_client_touched();
"""


class Migration(migrations.Migration):
    dependencies = [("oauth", "0008_rate_limits")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
