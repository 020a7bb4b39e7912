"""``lowbit bench``: speed side by side with the reference libraries."""
