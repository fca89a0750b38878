"""``cnnvis serve``: an interactive explorer of any model the toolkit loads, in the browser.

:mod:`visualization.serve.session` holds the models, images and requests and calls only the public
API; :mod:`visualization.serve.jobs` the jobs (progress, cancel) and the bounded result cache;
:mod:`visualization.serve.app` is the HTTP layer (Starlette, run by uvicorn: ``pip install
"cnn-visualization[serve]"``); ``static/`` is the page. Nothing is fetched from a network.
"""
