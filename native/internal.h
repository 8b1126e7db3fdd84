/* What the interposer's C files share beyond interposer.c (tempi_i_: internal; hidden, so
 * neither exported from the shim nor slower to call than a static function). */
#ifndef TEMPI_INTERNAL_H
#define TEMPI_INTERNAL_H

#define TEMPI_I_HIDDEN __attribute__((visibility("hidden")))

#ifndef TEMPI_I_OK
#define TEMPI_I_OK 1   /* a callback did the work */
#define TEMPI_I_PASS 2 /* a callback declined: call the system MPI */
#endif

/* interposer.c */
TEMPI_I_HIDDEN int tempi_i_ready(void);       /* Python usable (started on first use) */
TEMPI_I_HIDDEN int tempi_i_is_disabled(void); /* TEMPI_DISABLE */
TEMPI_I_HIDDEN int tempi_i_is_inside(void);   /* a call that tempi itself made */
TEMPI_I_HIDDEN void tempi_i_set_inside(int on);

/* topology.c: under TEMPI_NODES, fill node_of[r] with the lowest world rank on world rank
 * r's simulated node and return 1; else 0 (the real nodes). */
TEMPI_I_HIDDEN int tempi_i_simulated_nodes(int size, int *node_of);

#endif
