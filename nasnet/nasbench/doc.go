// Package nasbench implements the NAS-Bench-101 search space (Ying et al., "NAS-Bench-101:
// Towards Reproducible Neural Architecture Search", ICML 2019) and the parts of ReNAS
// (arXiv:1910.01523) that need no training.
//
// It provides cell specs with NAS-Bench-101's pruning, validity rules and graph hash, the
// vertex orderings of a cell, and an enumerator of all 423,624 unique cells with an on-disk
// cache. It counts the parameters and FLOPs of the network built from a cell, builds the
// ReNAS 19×7×7 cell encoding and its standardisation, computes Kendall's τ-b, and reads
// NAS-Bench-101 record files.
package nasbench
