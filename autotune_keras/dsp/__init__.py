"""Classical DSP: the autotune the neural corrector is measured against."""
