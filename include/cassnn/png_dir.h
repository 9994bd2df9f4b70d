/* png_dir.h - a folder of 28x28 8-bit grayscale PNGs, one sub-folder per class.
 *
 *   DIR/<label>/<anything>.png  (one image per file)
 *
 * <label> is a digit 0..9 or a Fashion-MNIST class name (see data_class_label).
 * Images are taken in a fixed order - by label, then folder name, then file
 * name in natural order (2.png before 10.png) - and numbered 0.. in that order,
 * so the same folder always gives the same ids.
 */
#ifndef CASSNN_PNG_DIR_H
#define CASSNN_PNG_DIR_H

#include "cassnn/images.h"

/* The label a class folder name stands for, or -1: "0".."9", or a
 * Fashion-MNIST class name compared case-insensitively on its letters and
 * digits only ("T-shirt_top", "tshirt-top", "Ankle boot", "ankle_boot"...;
 * also "T-shirt" and "Top"). */
int data_class_label(const char *folder_name);

/* The Fashion-MNIST class name of label 0..9 ("T-shirt/top" ... "Ankle boot"),
 * or NULL. */
const char *data_fashion_class_name(int label);

/* Reads every PNG under dir into out. Any image that is not a 28x28 8-bit
 * grayscale PNG, a corrupt PNG, a non-PNG file in a class folder, or a folder
 * whose name is not a class fails the load with the file name and reason,
 * unless skip_bad, which leaves bad images out and counts them in stats (may
 * be NULL). Hidden entries (".name") and plain files next to the class
 * folders are ignored. The caller frees out with data_images_free.
 * Reentrant. */
int data_png_dir_load(const char *dir, int skip_bad, data_images *out, data_load_stats *stats,
                      cassnn_err *err);

#endif
