// Anchors the controllers library; the controllers live in clusteridentity/ and flowrun/.
namespace controllers {
int libraryAnchor = 0;
}  // namespace controllers
