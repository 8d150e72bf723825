# gunicorn -c deploy/gunicorn.conf.py
#
# The settings live in homecare/serving.py (installed with the package, so the
# container and `homecare serve --production` use the very same ones); this file
# is for running gunicorn by hand. Tune with HOMECARE_WEB_BIND, HOMECARE_WEB_WORKERS
# (0: two per core), HOMECARE_WEB_THREADS and HOMECARE_WEB_TIMEOUT_SECONDS.
from homecare.serving import *  # noqa: F403
