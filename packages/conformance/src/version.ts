/** The kit's version, reported in every run. */
export const VERSION = '0.1.0';
