# Kubernetes source (agent/k8s*.c): list+watch of Services and EndpointSlices.
