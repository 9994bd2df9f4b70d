/* csv.h - Kaggle "Digit Recognizer"-style CSV files.
 *
 * A labeled file (train.csv) has the header `label,pixel0,...,pixel783` and
 * rows `label,p0,...,p783`; an unlabeled file (test.csv) has the header
 * `pixel0,...,pixel783` and rows of pixels only. Pixels are integers 0..255
 * in row-major 28x28 order, labels integers 0..9. CRLF line ends, a UTF-8 BOM,
 * spaces around values and blank lines are accepted; nothing else is.
 *
 * The whole file is checked before the call returns, so a caller that writes
 * the result somewhere writes either everything or nothing.
 */
#ifndef CASSNN_CSV_H
#define CASSNN_CSV_H

#include "cassnn/images.h"

/* Reads path into out (28x28, channels 1; ids 0.. in file order over the rows
 * kept; labels -1 when !labeled). A bad row fails the whole load with an error
 * like "train.csv line 17: column 300 'abc' is not an integer", unless
 * skip_bad, which leaves such rows out and counts them in stats (may be NULL).
 * A bad header, an unreadable file or a file without a usable row always
 * fails. The caller frees out with data_images_free. Reentrant. */
int data_csv_load(const char *path, int labeled, int skip_bad, data_images *out,
                  data_load_stats *stats, cassnn_err *err);

#endif
