"""Multi-frame building blocks: registration of neighbouring frames and block-wise Fourier burst fusion."""
