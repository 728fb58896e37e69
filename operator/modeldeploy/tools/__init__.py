"""What people run beside the operator: the kubectl plugin (`cli`) and the CRD generator
(`crdgen`)."""
