"""What people run beside the operator: the kubectl plugin (`cli`), the CRD generator
(`crdgen`) and the API reference generator (`refdoc`)."""
