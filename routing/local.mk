# routing/: see routing/routing.h. Rules are added as the module grows.
