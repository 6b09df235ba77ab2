"""Built-in container images: each image name selects a process recipe (no downloads).

`catalog.py` maps image names to entrypoints; the other modules are the small servers that
back the images with no Debian binary (an nginx-like static server, an agnhost-like test
server, pause). They import nothing of the kubelet.
"""
