"""The tenant admin console (HTML, tenant hosts only), one module per area. Thin: forms
validate, services write. Each module declares its own ``urlpatterns``."""
